{%- from 'base/map.jinja' import base with context %}

base-open-files-limit-managed:
  file.managed:
    - name: /etc/security/limits.d/60-golden.conf
    - contents: |
        # Managed by Salt (golden base formula).
        *    soft nofile {{ base.nofile_limit }}
        *    hard nofile {{ base.nofile_limit }}
        root soft nofile {{ base.nofile_limit }}
        root hard nofile {{ base.nofile_limit }}

base-systemd-default-open-files-managed:
  file.managed:
    - name: /etc/systemd/system.conf.d/60-golden.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (golden base formula).
        [Manager]
        DefaultLimitNOFILE={{ base.nofile_limit }}

base-systemd-reloaded-for-limits:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: base-systemd-default-open-files-managed
