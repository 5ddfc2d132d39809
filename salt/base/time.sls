{%- from 'base/map.jinja' import base with context %}

base-timezone-is-{{ base.timezone | lower }}:
  file.symlink:
    - name: /etc/localtime
    - target: /usr/share/zoneinfo/{{ base.timezone }}
    - force: True

base-timezone-file-managed:
  file.managed:
    - name: /etc/timezone
    - contents: {{ base.timezone }}

base-chrony-config-managed:
  file.managed:
    - name: {{ base.chrony_conf }}
    - source: salt://base/files/chrony.conf.j2
    - template: jinja
    - context:
        base: {{ base | json }}
    - require:
      - pkg: base-packages-installed

base-chrony-daemon-options-managed:
  file.managed:
    - name: {{ base.chrony_defaults }}
    - source: salt://base/files/chrony.default.j2
    - template: jinja
    - context:
        base: {{ base | json }}
    - require:
      - pkg: base-packages-installed

base-chrony-service-running:
  service.running:
    - name: {{ base.chrony_service }}
    - enable: True
    - watch:
      - file: base-chrony-config-managed
      - file: base-chrony-daemon-options-managed
