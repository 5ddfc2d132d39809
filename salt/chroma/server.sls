{%- from 'chroma/map.jinja' import chroma with context %}
include:
  - docker
  - chroma.image
  - chroma.volume

chroma-limits-script-managed:
  file.managed:
    - name: /usr/local/sbin/golden-chroma-limits
    - source: salt://chroma/files/golden-chroma-limits.py
    - mode: '0755'

chroma-log-rotation-managed:
  file.managed:
    - name: /etc/logrotate.d/golden-chroma
    - mode: '0644'
    - contents: |
        # Managed by Salt (golden chroma formula). systemd appends; copytruncate keeps
        # its file handle valid.
        {{ chroma.log_dir }}/*.log {
            daily
            rotate 7
            maxsize 100M
            missingok
            notifempty
            compress
            delaycompress
            copytruncate
        }

chroma-server-unit-managed:
  file.managed:
    - name: /etc/systemd/system/chroma.service
    - source: salt://chroma/files/chroma.service.j2
    - template: jinja
    - context:
        chroma: {{ chroma | json }}

chroma-server-running:
  service.running:
    - name: chroma
    - enable: True
    - require:
      - service: docker-service-running
      - service: chroma-volume-mounted
      - file: chroma-log-directory-present
      - file: chroma-limits-script-managed
{%- if not chroma.image_ref %}
      - test: chroma-image-pinned
{%- elif chroma.image_source == 'archive' %}
      - cmd: chroma-image-loaded-from-archive
{%- else %}
      - cmd: chroma-image-pulled-by-digest
{%- endif %}
    - watch:
      - file: chroma-server-unit-managed
