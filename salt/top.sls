{#- Targets by the `role` grain that the provisioning path sets. The pillar is validated
    here, while the top file renders, so a bad pillar fails the highstate before any
    state runs and nothing on the host changes. #}
{%- set problems = salt['golden_pillar.problems']() %}
{%- if problems %}
{{- raise('invalid pillar: ' ~ problems | join('; ')) }}
{%- endif %}
base:
  {#- The base image: what every role shares. A role bake from a base image applies the
      role's full list below, so these states run again there as no-ops. #}
  'role:base':
    - match: grain
    - base
    - hardening
    - docker
    - cloudwatch
    - golden
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
