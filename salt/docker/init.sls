include:
  - docker.package
  - docker.config
  - docker.service
