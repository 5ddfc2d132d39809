include:
  - app.images
  - app.config
  - app.service
