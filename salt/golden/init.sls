{%- from 'golden/map.jinja' import golden with context %}
{%- from 'app/map.jinja' import app with context %}

golden-state-directory-present:
  file.directory:
    - name: /etc/golden
    - mode: '0755'

{#- Salt stays on the image: hotfixes run the same highstate on running instances. #}
golden-salt-minion-config-managed:
  file.managed:
    - name: /etc/salt/minion.d/golden.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (golden formula): masterless, trees at /srv.
        file_client: local
        file_roots: {base: [/srv/salt]}
        pillar_roots: {base: [/srv/pillar]}
        state_output: changes
        log_level_logfile: warning

golden-salt-call-on-path:
  file.symlink:
    - name: /usr/local/sbin/salt-call
    - target: {{ golden.salt_venv }}/bin/salt-call

{%- if salt['file.file_exists'](golden.provenance_file) %}
{%- set provenance = salt['file.read'](golden.provenance_file) | load_json %}
golden-image-json-managed:
  file.serialize:
    - name: {{ golden.image_json }}
    - serializer: json
    - serializer_opts:
      - indent: 2
      - sort_keys: True
    - dataset:
        role: {{ grains['role'] }}
        platform: {{ golden.platform }}
        version: {{ provenance.get('version', 'dev') | json }}
        git_revision: {{ provenance.get('git_revision', 'unknown') | json }}
        state_tree_revision: {{ provenance.get('state_tree_revision', 'unknown') | json }}
        build_time: {{ provenance.get('build_time', '') | json }}
        salt_version: {{ grains['saltversion'] | json }}
        os: {{ (grains['os'] ~ ' ' ~ grains['osrelease']) | json }}
        app_images: {{ app.images | json }}
{#-   Baked from a tested base image (golden bake --from-base): which one. #}
{%-   if provenance.get('base') %}
        base: {{ provenance['base'] | json }}
{%-   endif %}
{%- else %}
{#- A hotfix highstate has no build provenance: the image's record stays as baked. #}
golden-image-json-present:
  file.exists:
    - name: {{ golden.image_json }}
{%- endif %}

{#- The boot step: instance settings from cloud-init + secrets from SSM -> /etc/app/app.env,
    runtime grains (replicas, workers, log group), then the app may start. A failure
    here keeps app.service down, so /healthz fails and the group replaces the instance.
    Not on a base image: it is never an instance of a group, only the start of a role
    bake, whose boot must not fail for want of instance settings. #}
{%- if grains['role'] != 'base' %}
golden-boot-unit-managed:
  file.managed:
    - name: /etc/systemd/system/golden-boot.service
    - source: salt://golden/files/golden-boot.service.j2
    - template: jinja
    - context:
        golden: {{ golden | json }}

golden-boot-unit-enabled:
  service.enabled:
    - name: golden-boot
    - require:
      - file: golden-boot-unit-managed
{%- endif %}

{#- Mounted read-only into the backend containers (sslrootcert in DATABASE_URL). #}
golden-certs-directory-present:
  file.directory:
    - name: /etc/golden/certs
    - mode: '0755'

{%- if salt['file.file_exists'](golden.rds_ca_bundle_source) %}
golden-database-ca-bundle-managed:
  file.managed:
    - name: {{ golden.rds_ca_bundle }}
    - source: {{ golden.rds_ca_bundle_source }}
    - mode: '0644'
{%- endif %}
