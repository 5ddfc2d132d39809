# Settings shared by every role on AWS. No secrets here, ever: they come from SSM
# Parameter Store at boot.
golden:
  platform: {{ grains.get('platform', 'aws') }}

base:
  timezone: UTC
  ntp_servers: [169.254.169.123]
  apply_host_wide_sysctls: true

hardening:
  firewall_enabled: true
  unattended_upgrades: true

cloudwatch:
  install: true
