# The app role: nginx in front of N backend replicas and the frontend.
golden:
  role: app

nginx:
  client_max_body_size: 100m
  # The ALB's subnets in the VPC; X-Forwarded-For is trusted from these only.
  lb_cidrs: [10.0.0.0/16]
  redirect_http_to_https: true
  hsts: true
  tls:
    enabled: false

app:
  backend_replicas: 2
  worker_cap: 8
  image_source: archive
  image_archive: /var/tmp/golden/images/sample-app.tar
  image_manifest: /var/tmp/golden/images/sample-app.json
