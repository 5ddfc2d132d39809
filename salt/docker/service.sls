include:
  - docker.package
  - docker.config

{#- live-restore keeps the app's containers running while dockerd restarts for a new
    daemon.json. #}
docker-containerd-running:
  service.running:
    - name: containerd
    - enable: True
    - require:
      - pkg: docker-engine-installed
    - watch:
      - file: docker-containerd-config-managed

docker-service-running:
  service.running:
    - name: docker
    - enable: True
    - require:
      - pkg: docker-engine-installed
      - service: docker-containerd-running
    - watch:
      - file: docker-daemon-json-managed
