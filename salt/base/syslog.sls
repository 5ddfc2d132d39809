{%- from 'base/map.jinja' import base with context %}
{#- rsyslog writes /var/log/auth.log (logins, sudo, sshd with the key used) and
    /var/log/syslog (everything journald forwards): plain files the CloudWatch agent ships
    and logrotate (rsyslog's own rules) rotates. #}
include:
  - base.packages

{%- if not base.kernel_log %}
{#- The twin shares this machine's kernel: reading /proc/kmsg (rsyslog's imklog) would
    take the kernel's messages from every other reader on this machine. The unit drop-in
    exists before the package, whose installation starts the service; the input is also
    taken out of rsyslog's configuration so it does not report the refused file. #}
base-rsyslog-kernel-log-unreachable:
  file.managed:
    - name: /etc/systemd/system/rsyslog.service.d/50-golden-no-kmsg.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (golden base formula): the kernel here is the host's.
        [Service]
        InaccessiblePaths=-/proc/kmsg
    - require_in:
      - pkg: base-packages-installed

base-rsyslog-kernel-input-off:
  file.comment:
    - name: /etc/rsyslog.conf
    - regex: ^module\(load="imklog"
    - ignore_missing: True
    - backup: False
    - require:
      - pkg: base-packages-installed
{%- endif %}

base-rsyslog-running:
  service.running:
    - name: rsyslog
    - enable: True
    - require:
      - pkg: base-packages-installed
{%- if not base.kernel_log %}
    - watch:
      - file: base-rsyslog-kernel-log-unreachable
      - file: base-rsyslog-kernel-input-off
{%- endif %}
