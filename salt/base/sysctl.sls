{%- from 'base/map.jinja' import base with context %}
{%- from 'hardening/map.jinja' import hardening with context %}
{#- Host-wide keys are applied only where the host is ours (an instance). In the twin they
    are rendered into their own file and checked, never written to /proc/sys. #}
{%- set applied = dict(base.sysctl_namespaced) %}
{#- Outgoing connections never take a port one of golden's listeners needs (see
    salt/_modules/golden_ports.py), from the merged settings of the role's formulas. #}
{%- set settings = {'hardening': hardening} %}
{%- if grains['role'] == 'app' %}
{%-   from 'nginx/map.jinja' import nginx with context %}
{%-   from 'app/map.jinja' import app with context %}
{%-   do settings.update({'nginx': nginx, 'app': app}) %}
{%- elif grains['role'] == 'chroma' %}
{%-   from 'chroma/map.jinja' import chroma with context %}
{%-   do settings.update({'chroma': chroma}) %}
{%- endif %}
{%- set reserved = salt['golden_ports.reserved'](grains['role'], settings,
                                                base.sysctl_namespaced['net.ipv4.ip_local_port_range']) %}
{%- if reserved %}
{%-   do applied.update({'net.ipv4.ip_local_reserved_ports': reserved}) %}
{%- endif %}
{%- if base.apply_host_wide_sysctls %}
{%-   do applied.update(base.sysctl_host_wide) %}
{%- endif %}

{%- for key, value in applied | dictsort %}
base-sysctl-{{ key }}-set:
  sysctl.present:
    - name: {{ key }}
    - value: {{ value | string | json }}
    - config: /etc/sysctl.d/60-golden.conf
{%- endfor %}

base-sysctl-host-wide-file-managed:
  file.managed:
    - name: /etc/sysctl.d/61-golden-host-wide.conf
{%- if base.apply_host_wide_sysctls %}
    - contents: |
        # Managed by Salt: host-wide keys are applied from 60-golden.conf on this host.
{%- else %}
    - contents: |
        # Managed by Salt: rendered but NOT applied here (this host shares its kernel).
{%-   for key, value in base.sysctl_host_wide | dictsort %}
        # {{ key }} = {{ value }}
{%-   endfor %}
{%- endif %}

{%- if not base.apply_host_wide_sysctls %}
{#- systemd-sysctl is masked where the kernel is shared (it would apply every file of
    /usr/lib/sysctl.d too); a network namespace starts with kernel defaults at each boot,
    so this unit re-applies our namespaced keys, and only those. #}
base-sysctl-namespaced-boot-unit-managed:
  file.managed:
    - name: /etc/systemd/system/golden-sysctl.service
    - contents: |
        # Managed by Salt (golden base formula).
        [Unit]
        Description=Apply golden's namespaced sysctls (systemd-sysctl is masked here)
        DefaultDependencies=no
        Before=network-pre.target nginx.service docker.service
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/sbin/sysctl -q -p /etc/sysctl.d/60-golden.conf
        # Sandbox: it writes the network namespace's keys under /proc/sys, nothing else
        # (no PrivateNetwork: the keys are this namespace's).
        ProtectSystem=strict
        ProtectHome=yes
        PrivateTmp=yes
        NoNewPrivileges=yes
        ProtectKernelModules=yes
        ProtectControlGroups=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        SystemCallArchitectures=native
        [Install]
        WantedBy=multi-user.target

base-sysctl-namespaced-boot-unit-enabled:
  service.enabled:
    - name: golden-sysctl
    - require:
      - file: base-sysctl-namespaced-boot-unit-managed
{%- endif %}
