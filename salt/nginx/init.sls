include:
  - nginx.package
  - nginx.config
  - nginx.service
