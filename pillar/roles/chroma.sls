# The Chroma host role: the Chroma server container on 127.0.0.1, its data on a dedicated
# EBS volume found by tag and mounted at boot, nginx in front checking a bearer token
# fetched from SSM at boot (the Chroma 1.x server ignores its own token settings).
golden:
  role: chroma

hardening:
  # Only ssh and the proxy port (chroma:proxy_port) are open; nothing listens on 80 here.
  # The security group narrows the proxy port to the app's security group.
  http_open: false
  extra_tcp_ports: [8000]

chroma:
  image_source: archive
  image_archive: /var/tmp/golden/images/chroma.tar
  image_manifest: /var/tmp/golden/images/chroma.json
  port: 8001
  proxy_port: 8000
  data_dir: /var/lib/chroma
  volume:
    kind: ebs
    device_name: /dev/xvdf
    # Empty: the release tool's instance tag golden:data-volume names the volume.
    name_tag: ''
    instance_tag: golden:data-volume
    fs_type: ext4
    wait_seconds: 300
