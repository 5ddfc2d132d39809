{%- from 'docker/map.jinja' import docker with context %}

docker-engine-installed:
  pkg.installed:
    - pkgs: {{ (docker.packages + docker.extra_packages) | json }}

{%- if docker.compose_source and not docker.compose_source.sha256 %}
docker-compose-v2-package-for-architecture:
  test.fail_without_changes:
    - name: "docker: no Compose v2 package for architecture {{ docker.arch or 'unknown' }} (osarch grain); known: {{ docker.compose_source.architectures | join(', ') }}"
{%- elif docker.compose_source %}
{%- set deb = '/var/cache/golden/' ~ docker.compose_source.url.split('/')[-1] %}

{#- Salt's own HTTP fetch, not apt's (no Acquire::Retries): retried here. #}
docker-compose-v2-package-downloaded:
  file.managed:
    - name: {{ deb }}
    - source: {{ docker.compose_source.url }}
    - source_hash: sha256={{ docker.compose_source.sha256 }}
    - makedirs: True
    - retry:
        attempts: 4
        interval: 10

docker-compose-v2-installed:
  pkg.installed:
    - sources:
      - {{ docker.compose_source.name }}: {{ deb }}
    - require:
      - file: docker-compose-v2-package-downloaded
      - pkg: docker-engine-installed
{%- endif %}
