{%- from 'cloudwatch/map.jinja' import cloudwatch with context %}
{%- set prefix = cloudwatch.log_group_prefix %}
{%- set dims = {'AutoScalingGroupName': '${aws:AutoScalingGroupName}',
                'ImageId': '${aws:ImageId}', 'InstanceId': '${aws:InstanceId}'} %}
{#- Every file names its log group's retention: the agent creates the group with it, or
    the group never expires (entries of one group must agree). auth.log and audit.log,
    the login and change records, are kept longer; syslog is the rest of the journal. #}
{%- set days = cloudwatch.log_retention_days %}
{%- set security_days = cloudwatch.security_log_retention_days %}

cloudwatch-agent-config-managed:
  file.serialize:
    - name: {{ cloudwatch.config_path }}
    - makedirs: True
    - serializer: json
    - serializer_opts:
      - indent: 2
      - sort_keys: True
    # json.tool refuses a broken document before it replaces the good one.
    - check_cmd: python3 -m json.tool
    - dataset:
        agent:
          metrics_collection_interval: {{ cloudwatch.metrics_interval }}
          run_as_user: root
        metrics:
          namespace: golden
          append_dimensions: {{ dims | json }}
          aggregation_dimensions: [[AutoScalingGroupName], [AutoScalingGroupName, ImageId]]
          metrics_collected:
            mem:
              measurement: [mem_used_percent, mem_available]
            disk:
              measurement: [used_percent, inodes_free]
              resources: ["/"]
            swap:
              measurement: [swap_used_percent]
        logs:
          logs_collected:
            files:
              collect_list:
                - file_path: /var/log/nginx/access.log
                  log_group_name: {{ prefix }}/nginx/access
                  log_stream_name: "{instance_id}"
                  timezone: UTC
                  retention_in_days: {{ days }}
                - file_path: /var/log/nginx/error.log
                  log_group_name: {{ prefix }}/nginx/error
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ days }}
                - file_path: /var/lib/docker/containers/*/*-json.log
                  log_group_name: {{ prefix }}/app/containers
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ days }}
                - file_path: /var/log/cloud-init-output.log
                  log_group_name: {{ prefix }}/boot
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ days }}
                - file_path: /var/log/golden-boot.log
                  log_group_name: {{ prefix }}/boot
                  log_stream_name: "{instance_id}-golden"
                  retention_in_days: {{ days }}
                - file_path: /var/log/syslog
                  log_group_name: {{ prefix }}/syslog
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ days }}
                - file_path: /var/log/auth.log
                  log_group_name: {{ prefix }}/auth
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ security_days }}
                - file_path: /var/log/audit/audit.log
                  log_group_name: {{ prefix }}/audit
                  log_stream_name: "{instance_id}"
                  retention_in_days: {{ security_days }}
