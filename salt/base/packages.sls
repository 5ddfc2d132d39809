{%- from 'base/map.jinja' import base with context %}

{#- Every package state of every formula downloads through apt (the roles apply base
    first). apt retries a failed download, waiting longer each time (apt >= 2.3), so a
    mirror's passing error fails neither a bake nor an instance's unattended upgrade. #}
base-apt-download-retries-managed:
  file.managed:
    - name: /etc/apt/apt.conf.d/80-golden-retries
    - mode: '0644'
    - contents: |
        Acquire::Retries "{{ base.apt_retries }}";

base-packages-installed:
  pkg.installed:
    - pkgs: {{ (base.packages + base.extra_packages) | json }}
    - require:
      - file: base-apt-download-retries-managed
