{%- from 'app/map.jinja' import app with context %}
{#- /run/app/limits.env (golden-app-runtime, run first by both) fills the compose file's
    memory and process limits. #}
{%- set roll = '/usr/local/sbin/golden-app-roll --project ' ~ app.project ~ ' --file ' ~ app.dir ~ '/compose.yaml --env-file /run/app/limits.env --probe-url http://127.0.0.1:80/healthz --services /etc/app/services.json' %}
include:
  - docker
  - golden
  - app.images
  - app.config

app-roll-script-managed:
  file.managed:
    - name: /usr/local/sbin/golden-app-roll
    - source: salt://app/files/golden-app-roll.py
    - mode: '0755'

{#- A unit change takes effect at the next start: restarting app.service would stop every
    replica at once. Salt reloads systemd itself when a unit file changed. #}
app-service-unit-managed:
  file.managed:
    - name: /etc/systemd/system/app.service
    - source: salt://app/files/app.service.j2
    - template: jinja
    - context:
        app: {{ app | json }}
        roll: {{ roll | json }}

{#- Config changes never restart app.service (that drops every request in flight): the
    replicas are recreated one at a time, each healthy and routed by nginx before the
    next. nginx states come first in the top file, so a new upstream is loaded before a
    replica appears or goes. When app.service is not running yet (a build), nothing is
    rolled and the start below uses the new files. #}
app-replicas-rolled-on-config-change:
  cmd.run:
    - name: {{ roll }}
    - onchanges:
      - file: app-compose-file-managed
      - file: app-settings-env-file-managed
      - file: app-runtime-settings-managed
      - file: app-services-plan-managed
    - require:
      - file: app-roll-script-managed
      - service: docker-service-running

app-service-running:
  service.running:
    - name: app
    - enable: True
    - require:
      - service: docker-service-running
      # app.service requires the boot step's unit (environment first).
      - service: golden-boot-unit-enabled
      - file: app-service-unit-managed
      - cmd: app-replicas-rolled-on-config-change
