{%- from 'base/map.jinja' import base with context %}

base-packages-installed:
  pkg.installed:
    - pkgs: {{ (base.packages + base.extra_packages) | json }}
