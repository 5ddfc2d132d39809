{%- from 'app/map.jinja' import app with context %}
include:
  - docker
  - app.images
  - app.config

app-service-unit-managed:
  file.managed:
    - name: /etc/systemd/system/app.service
    - source: salt://app/files/app.service.j2
    - template: jinja
    - context:
        app: {{ app | json }}

app-service-running:
  service.running:
    - name: app
    - enable: True
    - require:
      - service: docker-service-running
    - watch:
      - file: app-service-unit-managed
      - file: app-compose-file-managed
      - file: app-runtime-settings-managed
