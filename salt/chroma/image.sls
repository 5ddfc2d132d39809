{%- from 'chroma/map.jinja' import chroma with context %}
include:
  - docker

{%- if not chroma.image_ref %}
chroma-image-pinned:
  test.fail_without_changes:
    - name: "chroma: no image pin found (pillar chroma:image, or the manifest {{ chroma.manifest_in_use }})"
{%- elif chroma.image_source == 'archive' and chroma.image_architecture
        and chroma.image_architecture != grains.get('osarch') %}
{#- An image for another CPU loads fine and then fails at its first start. #}
chroma-image-architecture-matches:
  test.fail_without_changes:
    - name: "chroma: {{ chroma.manifest_in_use }} holds a {{ chroma.image_architecture }} image; this machine is {{ grains.get('osarch') }} (osarch grain): build the archive for it"
{%- elif chroma.image_source == 'archive' %}
{#- No Salt state module loads a `docker save` archive in Salt 3008 core, hence cmd.run,
    guarded so it runs only while the pinned image is missing. #}
chroma-image-loaded-from-archive:
  cmd.run:
    - name: docker load --input {{ chroma.image_archive }}
    - unless: docker image inspect {{ chroma.image_ref }}
    - require:
      - service: docker-service-running

{%- if salt['file.file_exists'](chroma.image_manifest) %}
chroma-image-pin-kept:
  file.managed:
    - name: {{ chroma.pinned_manifest }}
    - source: {{ chroma.image_manifest }}
    - makedirs: True
    - mode: '0644'
{%- endif %}
{%- else %}
chroma-image-pulled-by-digest:
  cmd.run:
    - name: docker pull {{ chroma.image_ref }}
    - unless: docker image inspect {{ chroma.image_ref }}
    - require:
      - service: docker-service-running
{%- endif %}
