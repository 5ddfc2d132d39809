{#- Targets by the `role` grain that the provisioning path sets. The pillar is validated
    here, while the top file renders, so a bad pillar fails the highstate before any
    state runs and nothing on the host changes. #}
{%- set problems = salt['golden_pillar.problems']() %}
{%- if problems %}
{{- raise('invalid pillar: ' ~ problems | join('; ')) }}
{%- endif %}
base:
  'role:app':
    - match: grain
    - base
    - hardening
    - docker
    - nginx
    - app
    - cloudwatch
    - golden
  'role:chroma':
    - match: grain
    - base
    - hardening
    - docker
    - cloudwatch
    - chroma
    - golden
