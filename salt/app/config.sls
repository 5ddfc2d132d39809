{%- from 'app/map.jinja' import app with context %}

app-directory-present:
  file.directory:
    - name: {{ app.dir }}
    - mode: '0755'

{#- /etc/app/app.env holds secrets: written at boot from SSM, never by this state. #}
app-env-directory-private:
  file.directory:
    - name: /etc/app
    - mode: '0700'

app-compose-file-managed:
  file.managed:
    - name: {{ app.dir }}/compose.yaml
    - source: salt://app/files/compose.yaml.j2
    - template: jinja
    - mode: '0644'
    - context:
        app: {{ app | json }}
    - require:
      - file: app-directory-present

{#- Non-secret APP_* settings (pillar app:environment) that compose gives the backends; a
    change rolls the replicas one at a time (app.service). #}
app-settings-env-file-managed:
  file.managed:
    - name: /etc/app/app-settings.env
    - source: salt://app/files/app-settings.env.j2
    - template: jinja
    - mode: '0644'
    - context:
        app: {{ app | json }}
    - require:
      - file: app-env-directory-private

app-runtime-settings-managed:
  file.managed:
    - name: /etc/app/runtime.conf
    - mode: '0644'
    - contents: |
        # Managed by Salt: inputs of the boot-time worker decision (golden-app-runtime).
        REPLICAS={{ app.backend_replicas }}
        WORKER_CAP={{ app.worker_cap }}

app-runtime-script-managed:
  file.managed:
    - name: /usr/local/sbin/golden-app-runtime
    - source: salt://app/files/golden-app-runtime.sh
    - mode: '0755'
