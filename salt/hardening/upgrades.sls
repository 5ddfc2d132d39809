{%- from 'hardening/map.jinja' import hardening with context %}
{%- if hardening.unattended_upgrades %}

hardening-unattended-upgrades-installed:
  pkg.installed:
    - name: unattended-upgrades

hardening-unattended-upgrades-enabled:
  file.managed:
    - name: /etc/apt/apt.conf.d/20auto-upgrades
    - contents: |
        APT::Periodic::Update-Package-Lists "1";
        APT::Periodic::Unattended-Upgrade "1";
        APT::Periodic::AutocleanInterval "7";
    - require:
      - pkg: hardening-unattended-upgrades-installed

hardening-unattended-upgrades-security-only:
  file.managed:
    - name: /etc/apt/apt.conf.d/52golden-unattended-upgrades
    - source: salt://hardening/files/unattended-upgrades.j2
    - template: jinja
    - context:
        hardening: {{ hardening | json }}
    - require:
      - pkg: hardening-unattended-upgrades-installed
{%- endif %}
