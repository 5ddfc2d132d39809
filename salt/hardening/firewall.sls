{%- from 'hardening/map.jinja' import hardening with context %}
{%- if hardening.firewall_enabled %}

hardening-firewall-rules-managed:
  file.managed:
    - name: /etc/nftables.conf
    - source: salt://hardening/files/nftables.conf.j2
    - template: jinja
    - mode: '0644'
    - check_cmd: /usr/sbin/nft -c -f
    - context:
        hardening: {{ hardening | json }}

{#- Reload swaps the golden table atomically; Docker's own iptables-nft tables are
    untouched because the ruleset only flushes its own table. #}
hardening-firewall-service-running:
  service.running:
    - name: nftables
    - enable: True
    - reload: True
    - watch:
      - file: hardening-firewall-rules-managed
{%- endif %}
