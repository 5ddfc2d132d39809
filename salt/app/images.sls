{%- from 'app/map.jinja' import app with context %}
include:
  - docker

{%- if not app.images %}
app-images-pinned:
  test.fail_without_changes:
    - name: "app: no image pins found (pillar app:images or the manifest {{ app.manifest_in_use | default('') }})"
{%- else %}
{%- set refs = app.images.values() | list %}

{%- if app.image_source == 'archive' and app.images_architecture
      and app.images_architecture != grains.get('osarch') %}
{#- An image for another CPU loads fine and then fails at its first start. #}
app-images-architecture-matches:
  test.fail_without_changes:
    - name: "app: {{ app.manifest_in_use }} holds {{ app.images_architecture }} images; this machine is {{ grains.get('osarch') }} (osarch grain): build the archive for it"
{%- elif app.image_source == 'archive' %}
{#- No Salt state module loads a `docker save` archive in Salt 3008 core, hence cmd.run,
    guarded so it runs only while a pinned image is missing. #}
app-images-loaded-from-archive:
  cmd.run:
    - name: docker load --input {{ app.image_archive }}
    - unless: docker image inspect {{ refs | join(' ') }}
    - require:
      - service: docker-service-running

{%- if salt['file.file_exists'](app.image_manifest) %}
app-image-pins-kept:
  file.managed:
    - name: {{ app.pinned_manifest }}
    - source: {{ app.image_manifest }}
    - makedirs: True
    - mode: '0644'
{%- endif %}
{%- else %}
{%- for name, ref in app.images | dictsort %}
app-image-{{ name }}-pulled-by-digest:
  cmd.run:
    - name: docker pull {{ ref }}
    - unless: docker image inspect {{ ref }}
    - require:
      - service: docker-service-running
{%- endfor %}
{%- endif %}
{%- endif %}
