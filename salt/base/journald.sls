{%- from 'base/map.jinja' import base with context %}

base-journald-limits-managed:
  file.managed:
    - name: /etc/systemd/journald.conf.d/50-golden.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (golden base formula).
        [Journal]
        SystemMaxUse={{ base.journald_max_use }}
        SystemMaxFileSize=64M
        MaxRetentionSec=14day
        RateLimitIntervalSec=30s
        RateLimitBurst=10000
        # rsyslog (base.syslog) writes auth.log and syslog from what journald forwards.
        ForwardToSyslog=yes

base-journald-service-running:
  service.running:
    - name: systemd-journald
    - watch:
      - file: base-journald-limits-managed
