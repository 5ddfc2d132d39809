{%- from 'hardening/map.jinja' import hardening with context %}
{#- auditd records changes to identities, sudo rights, sshd, Docker and golden's state
    (files/audit.rules.j2). The kernel's audit subsystem is not namespaced: in the twin
    auditd would load these rules into this machine's kernel and take over its audit
    log. There (hardening:auditd_running false) the rules are rendered, the service is
    masked before the package can start it, and nothing is loaded. #}
{%- if not hardening.auditd_running %}
hardening-auditd-masked:
  file.symlink:
    - name: /etc/systemd/system/auditd.service
    - target: /dev/null
    - force: True
    - require_in:
      - pkg: hardening-auditd-installed
{%- endif %}

hardening-auditd-installed:
  pkg.installed:
    - name: auditd

hardening-audit-rules-managed:
  file.managed:
    - name: /etc/audit/rules.d/50-golden.rules
    - source: salt://hardening/files/audit.rules.j2
    - template: jinja
    - mode: '0640'
    - context:
        audit: {{ {'docker_socket': '/run/docker.sock'} | json }}
    - require:
      - pkg: hardening-auditd-installed

{%- if hardening.auditd_running %}
hardening-auditd-running:
  service.running:
    - name: auditd
    - enable: True
    - require:
      - pkg: hardening-auditd-installed

{#- augenrules merges rules.d into audit.rules and loads it; auditd's own reload would
    not re-read rules.d. #}
hardening-audit-rules-loaded:
  cmd.run:
    - name: augenrules --load
    - onchanges:
      - file: hardening-audit-rules-managed
    - require:
      - service: hardening-auditd-running
{%- endif %}
