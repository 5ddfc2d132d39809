{%- from 'cloudwatch/map.jinja' import cloudwatch with context %}
include:
  - cloudwatch.config

{%- if cloudwatch.install and cloudwatch.arch not in cloudwatch.architectures %}
cloudwatch-agent-package-for-architecture:
  test.fail_without_changes:
    - name: "cloudwatch: no agent package for architecture {{ cloudwatch.arch or 'unknown' }} (osarch grain); AWS publishes Ubuntu packages for {{ cloudwatch.architectures | join(', ') }}"
{%- elif cloudwatch.install %}
{#- Salt fetches the .deb itself (apt's Acquire::Retries does not apply): retried here. #}
cloudwatch-agent-package-installed:
  pkg.installed:
    - sources:
      - amazon-cloudwatch-agent: {{ cloudwatch.package_source }}
    - retry:
        attempts: 4
        interval: 10

{#- The agent's own loader turns the JSON into its TOML and (re)starts the service;
    there is no Salt state module for it. #}
cloudwatch-agent-config-loaded:
  cmd.run:
    - name: {{ cloudwatch.ctl }} -a fetch-config -m ec2 -s -c file:{{ cloudwatch.config_path }}
    - onchanges:
      - file: cloudwatch-agent-config-managed
      - pkg: cloudwatch-agent-package-installed

cloudwatch-agent-service-enabled:
  service.enabled:
    - name: amazon-cloudwatch-agent
    - require:
      - pkg: cloudwatch-agent-package-installed
{%- else %}
cloudwatch-agent-install-skipped:
  test.show_notification:
    - text: >-
        CloudWatch agent install skipped (pillar cloudwatch:install is false); its config
        was rendered and validated at {{ cloudwatch.config_path }}.
{%- endif %}
