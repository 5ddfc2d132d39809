{%- from 'chroma/map.jinja' import chroma with context %}
{%- from 'base/map.jinja' import base with context %}
{#- nginx in front of Chroma, checking the bearer token the Chroma 1.x server would
    ignore. The app role's nginx formula is about the app; this one is the proxy's own. #}
include:
  - chroma.volume

chroma-proxy-nginx-installed:
  pkg.installed:
    - name: nginx

chroma-proxy-auth-script-managed:
  file.managed:
    - name: /usr/local/sbin/golden-chroma-proxy-auth
    - source: salt://chroma/files/golden-chroma-proxy-auth.py
    - mode: '0755'

chroma-proxy-bearer-directory-private:
  file.directory:
    - name: {{ salt['file.dirname'](chroma.bearer_map) }}
    - user: root
    - group: root
    - mode: '0700'
    - require:
      - pkg: chroma-proxy-nginx-installed

{%- if chroma.building %}
{#- The build has no SSM: a throwaway token, so the in-image tests can exercise the
    check. Never printed; the cleanup removes it and the map made from it. #}
chroma-proxy-build-token-present:
  cmd.run:
    - name: python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > {{ chroma.token_file }}
    - umask: '077'
    - creates: {{ chroma.token_file }}
    - require:
      - file: chroma-config-directory-private
    - require_in:
      - cmd: chroma-proxy-bearer-map-rendered
{%- endif %}

{#- Its contents follow the token file, not Salt: rendered once here if missing, then by
    the boot unit and the path unit below. #}
chroma-proxy-bearer-map-rendered:
  cmd.run:
    - name: /usr/local/sbin/golden-chroma-proxy-auth
    - creates: {{ chroma.bearer_map }}
    - require:
      - file: chroma-proxy-auth-script-managed
      - file: chroma-proxy-bearer-directory-private

chroma-proxy-main-config-managed:
  file.managed:
    - name: /etc/nginx/nginx.conf
    - source: salt://chroma/files/nginx.conf.j2
    - template: jinja
    - context:
        chroma: {{ chroma | json }}
        nofile_limit: {{ base.nofile_limit }}
    - require:
      - pkg: chroma-proxy-nginx-installed

chroma-proxy-site-config-managed:
  file.managed:
    - name: /etc/nginx/conf.d/chroma-proxy.conf
    - source: salt://chroma/files/chroma-proxy.conf.j2
    - template: jinja
    - context:
        chroma: {{ chroma | json }}
    - require:
      - pkg: chroma-proxy-nginx-installed
      - cmd: chroma-proxy-bearer-map-rendered

chroma-proxy-default-site-absent:
  file.absent:
    - name: /etc/nginx/sites-enabled/default

{#- Salt 3008 core has no nginx module; a failing test keeps the running config. #}
chroma-proxy-config-valid:
  cmd.run:
    - name: nginx -t -q
    - onchanges:
      - file: chroma-proxy-main-config-managed
      - file: chroma-proxy-site-config-managed
      - file: chroma-proxy-default-site-absent

chroma-proxy-auth-unit-managed:
  file.managed:
    - name: /etc/systemd/system/golden-chroma-proxy-auth.service
    - source: salt://chroma/files/golden-chroma-proxy-auth.service.j2
    - template: jinja
    - context:
        chroma: {{ chroma | json }}

chroma-proxy-auth-path-unit-managed:
  file.managed:
    - name: /etc/systemd/system/golden-chroma-proxy-auth.path
    - source: salt://chroma/files/golden-chroma-proxy-auth.path.j2
    - template: jinja
    - context:
        chroma: {{ chroma | json }}

{#- A oneshot that exits (no RemainAfterExit), so the path unit can start it again on
    every token change: enabled for boot, never "running". #}
chroma-proxy-auth-at-boot-enabled:
  service.enabled:
    - name: golden-chroma-proxy-auth.service
    - require:
      - file: chroma-proxy-auth-unit-managed
      - cmd: chroma-proxy-bearer-map-rendered

chroma-proxy-auth-follows-token-file:
  service.running:
    - name: golden-chroma-proxy-auth.path
    - enable: True
    - require:
      - service: chroma-proxy-auth-at-boot-enabled
    - watch:
      - file: chroma-proxy-auth-path-unit-managed

{#- Config changes reload (never restart) so requests in flight finish. #}
chroma-proxy-running:
  service.running:
    - name: nginx
    - enable: True
    - reload: True
    - require:
      - cmd: chroma-proxy-config-valid
      - cmd: chroma-proxy-bearer-map-rendered
    - watch:
      - file: chroma-proxy-main-config-managed
      - file: chroma-proxy-site-config-managed
      - file: chroma-proxy-default-site-absent
