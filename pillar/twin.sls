# The local twin: where it differs from an instance on AWS. README lists the same.
base:
  # No time sources, and chronyd never adjusts the clock: it is the host's clock.
  ntp_servers: []
  clock_hands_off: true
  # fs.*, vm.* and net.core.netdev_max_backlog are host-wide: rendered, not applied.
  apply_host_wide_sysctls: false
  # rsyslog never reads the kernel's ring buffer (/proc/kmsg): it is this machine's.
  kernel_log: false

hardening:
  # The audit subsystem is not namespaced: rules rendered, auditd masked, nothing loaded.
  auditd_running: false

docker:
  # Overlay on the twin's own overlay root is impossible and vfs copies every image per
  # container; fuse-overlayfs (through /dev/fuse) keeps layers shared.
  storage_driver: fuse-overlayfs
  extra_packages: [fuse-overlayfs]

nginx:
  # The twin's docker network, through which 127.0.0.1-published traffic arrives.
  lb_cidrs: [172.28.16.0/24]
  # The operator's machine is the twin's "VPC": it may read /healthz/deps.
  deps_allow: [127.0.0.1, 172.28.16.0/24]

cloudwatch:
  # No package source is reachable; the config is still rendered and validated.
  install: false

chroma:
  # No EBS volume and no EC2 API: Chroma's data "volume" is a local directory of the twin,
  # bind-mounted at chroma:data_dir. Finding, attaching and formatting are skipped.
  volume:
    kind: directory
    directory: /var/lib/golden-volumes/chroma-data
