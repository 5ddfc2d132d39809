{%- from 'docker/map.jinja' import docker with context %}

docker-daemon-json-managed:
  file.serialize:
    - name: /etc/docker/daemon.json
    - makedirs: True
    - serializer: json
    - dataset:
        log-driver: json-file
        log-opts:
          max-size: {{ docker.log_max_size | json }}
          max-file: {{ docker.log_max_file | string | json }}
        live-restore: {{ docker.live_restore | json }}
{%- if docker.storage_driver %}
        storage-driver: {{ docker.storage_driver | json }}
{%- endif %}
        # A port published without an address binds 127.0.0.1, never every interface.
        ip: 127.0.0.1

{#- Docker does not use containerd's CRI plugin, which would listen on a loopback port of
    its own: least privilege, and only declared ports listen. #}
docker-containerd-config-managed:
  file.managed:
    - name: /etc/containerd/config.toml
    - makedirs: True
    - contents: |
        # Managed by Salt (golden docker formula).
        version = 2
        disabled_plugins = ["io.containerd.grpc.v1.cri"]
