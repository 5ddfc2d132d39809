include:
  - nginx.config

{#- Config changes reload (never restart) so connections in flight finish. #}
nginx-service-running:
  service.running:
    - name: nginx
    - enable: True
    - reload: True
    - require:
      - cmd: nginx-config-valid
    - watch:
      - file: nginx-main-config-managed
      - file: nginx-site-config-managed
      - file: nginx-default-site-absent
