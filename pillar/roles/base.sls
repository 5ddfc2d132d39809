# The base role: OS, hardening, Docker, Salt and the CloudWatch agent, no application.
# App and chroma bakes can start from it (golden bake --from-base); their own pillar then
# opens the ports their role serves.
golden:
  role: base

hardening:
  # Nothing serves http on a base image: only ssh is open.
  http_open: false
