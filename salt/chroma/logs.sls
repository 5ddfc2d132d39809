{%- from 'chroma/map.jinja' import chroma with context %}
{%- from 'cloudwatch/map.jinja' import cloudwatch with context %}
{#- The proxy's and the server's log files, in log groups of their own. The cloudwatch
    formula's config stays the agent's main one; this file is appended to it. #}
{%- set prefix = cloudwatch.log_group_prefix %}
{%- set path = salt['file.dirname'](cloudwatch.config_path) ~ '/golden-chroma.json' %}
include:
  - cloudwatch

chroma-cloudwatch-logs-config-managed:
  file.serialize:
    - name: {{ path }}
    - makedirs: True
    - serializer: json
    - serializer_opts:
      - indent: 2
      - sort_keys: True
    # json.tool refuses a broken document before it replaces the good one.
    - check_cmd: python3 -m json.tool
    - dataset:
        logs:
          logs_collected:
            files:
              collect_list:
                - file_path: /var/log/nginx/chroma-access.log
                  log_group_name: {{ prefix }}/chroma/proxy-access
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ cloudwatch.log_retention_days }}
                  timezone: UTC
                - file_path: /var/log/nginx/chroma-error.log
                  log_group_name: {{ prefix }}/chroma/proxy-error
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ cloudwatch.log_retention_days }}
                - file_path: {{ chroma.log_dir }}/server.log
                  log_group_name: {{ prefix }}/chroma/server
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ cloudwatch.log_retention_days }}
                - file_path: {{ chroma.log_dir }}/volume.log
                  log_group_name: {{ prefix }}/chroma/volume
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ cloudwatch.log_retention_days }}

{%- if cloudwatch.install %}
{#- fetch-config (the cloudwatch formula) replaces every loaded file, so this one is
    appended again after each of its loads. #}
chroma-cloudwatch-logs-config-appended:
  cmd.run:
    - name: {{ cloudwatch.ctl }} -a append-config -m ec2 -s -c file:{{ path }}
    - require:
      - cmd: cloudwatch-agent-config-loaded
    - onchanges:
      - file: chroma-cloudwatch-logs-config-managed
      - cmd: cloudwatch-agent-config-loaded
{%- endif %}
