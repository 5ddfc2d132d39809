{%- from 'nginx/map.jinja' import nginx with context %}
include:
  - nginx.package

nginx-main-config-managed:
  file.managed:
    - name: /etc/nginx/nginx.conf
    - source: salt://nginx/files/nginx.conf.j2
    - template: jinja
    - context:
        nginx: {{ nginx | json }}
    - require:
      - pkg: nginx-package-installed

nginx-site-config-managed:
  file.managed:
    - name: /etc/nginx/conf.d/golden.conf
    - source: salt://nginx/files/golden.conf.j2
    - template: jinja
    - context:
        nginx: {{ nginx | json }}
    - require:
      - pkg: nginx-package-installed

nginx-default-site-absent:
  file.absent:
    - name: /etc/nginx/sites-enabled/default

{#- Salt 3008 core has no nginx module; a failing test keeps the running config. #}
nginx-config-valid:
  cmd.run:
    - name: nginx -t -q
    - onchanges:
      - file: nginx-main-config-managed
      - file: nginx-site-config-managed
      - file: nginx-default-site-absent
