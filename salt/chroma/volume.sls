{%- from 'chroma/map.jinja' import chroma with context %}
{%- set fs_packages = {'ext4': 'e2fsprogs', 'xfs': 'xfsprogs'} %}

{#- The token file lives here (written at boot from SSM): root only. #}
chroma-config-directory-private:
  file.directory:
    - name: {{ chroma.config_dir }}
    - user: root
    - group: root
    - mode: '0700'

{#- boto3 from the distribution: the EC2 calls are few and its version is the OS's. #}
chroma-volume-tools-installed:
  pkg.installed:
    - pkgs:
      - python3-boto3
      - util-linux
      - {{ fs_packages.get(chroma.volume.fs_type, 'e2fsprogs') }}

chroma-volume-settings-managed:
  file.serialize:
    - name: {{ chroma.config_dir }}/volume.json
    - serializer: json
    - serializer_opts:
      - indent: 2
      - sort_keys: True
    - mode: '0644'
    - dataset:
        kind: {{ chroma.volume.kind | json }}
        directory: {{ chroma.volume.directory | json }}
        device_name: {{ chroma.volume.device_name | json }}
        name_tag: {{ chroma.volume.name_tag | json }}
        instance_tag: {{ chroma.volume.instance_tag | json }}
        fs_type: {{ chroma.volume.fs_type | json }}
        fs_label: {{ chroma.fs_label | json }}
        wait_seconds: {{ chroma.volume.wait_seconds }}
        mount_point: {{ chroma.data_dir | json }}
        mount_options: {{ chroma.mount_options | json }}
        owner: {{ chroma.uid }}
    - require:
      - file: chroma-config-directory-private

{#- The server's and this step's log files (the CloudWatch agent ships them). #}
chroma-log-directory-present:
  file.directory:
    - name: {{ chroma.log_dir }}
    - mode: '0750'

chroma-volume-script-managed:
  file.managed:
    - name: /usr/local/sbin/golden-chroma-volume
    - source: salt://chroma/files/golden-chroma-volume.py
    - mode: '0755'

chroma-volume-unit-managed:
  file.managed:
    - name: /etc/systemd/system/golden-chroma-volume.service
    - source: salt://chroma/files/golden-chroma-volume.service.j2
    - template: jinja
    - context:
        chroma: {{ chroma | json }}

{%- if chroma.building %}
{#- In /run, so no image ever carries it; the cleanup releases the scratch volume. #}
chroma-volume-build-scratch-declared:
  file.serialize:
    - name: {{ chroma.build_override }}
    - makedirs: True
    - serializer: json
    - dataset:
        kind: directory
        directory: {{ chroma.build_volume }}
    - require_in:
      - service: chroma-volume-mounted
{%- endif %}

{#- Not restarted on changes: that would unmount the data under a running Chroma. New
    settings apply at the next boot. #}
chroma-volume-mounted:
  service.running:
    - name: golden-chroma-volume
    - enable: True
    - require:
      - pkg: chroma-volume-tools-installed
      - file: chroma-volume-settings-managed
      - file: chroma-volume-script-managed
      - file: chroma-volume-unit-managed
      - file: chroma-log-directory-present
