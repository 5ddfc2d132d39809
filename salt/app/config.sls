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
        # Managed by Salt: inputs of the decisions golden-app-runtime makes at each start
        # (workers per replica; the containers' memory and process limits).
        WORKER_CAP={{ app.worker_cap }}
        SYSTEM_RESERVE_MB={{ app.limits.system_reserve_mb }}
        PIDS_PER_WORKER={{ app.limits.pids_per_worker }}
    - require:
      - file: app-env-directory-private

{#- The declared services expanded into containers (salt/_modules/golden_app.py): the
    replicas and memory shares golden-app-runtime sizes, the ports and health paths
    golden-app-roll probes from the host. #}
app-services-plan-managed:
  file.managed:
    - name: /etc/app/services.json
    - mode: '0644'
    - contents: {{ (app.runtime_plan | json) | json }}
    - require:
      - file: app-env-directory-private

app-runtime-script-managed:
  file.managed:
    - name: /usr/local/sbin/golden-app-runtime
    - source: salt://app/files/golden-app-runtime.py
    - mode: '0755'
