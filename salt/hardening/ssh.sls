{%- from 'hardening/map.jinja' import hardening with context %}
{%- set keys = {'ed25519': '-t ed25519',
                'rsa': '-t rsa -b ' ~ hardening.ssh_crypto.rsa_host_key_bits} %}
{#- Only sshd's own settings: the same on every role (a role bake from a base image
    re-applies this state as a no-op). #}
{%- set sshd = {} %}
{%- for key in ['ssh_port', 'ssh_crypto', 'ssh_required_rsa_size', 'ssh_max_startups',
                'ssh_per_source_max_startups'] %}
{%-   do sshd.update({key: hardening[key]}) %}
{%- endfor %}

{#- Read first (sshd keeps the first value of a keyword): a cloud image's own drop-ins
    (50-cloud-init.conf) cannot override these. The earlier name goes. #}
hardening-sshd-config-managed:
  file.managed:
    - name: /etc/ssh/sshd_config.d/00-golden.conf
    - source: salt://hardening/files/sshd.conf.j2
    - template: jinja
    - makedirs: True
    - mode: '0600'
    - context:
        hardening: {{ sshd | json }}
    # sshd refuses a config with an unknown keyword or algorithm (RequiredRSASize before
    # OpenSSH 9.1): never reload into one. The test loads the host keys and needs sshd's
    # privilege separation directory, hence the requisites.
    - check_cmd: /usr/sbin/sshd -t -f
    - require:
      - service: hardening-ssh-host-keys-present
      - file: hardening-sshd-privsep-directory-present

{#- /run is a tmpfs that ssh.service fills at its start; `sshd -t` refuses to run without
    this directory. #}
hardening-sshd-privsep-directory-present:
  file.directory:
    - name: /run/sshd
    - mode: '0755'

hardening-sshd-earlier-config-absent:
  file.absent:
    - name: /etc/ssh/sshd_config.d/50-golden.conf

hardening-sshd-main-config-private:
  file.managed:
    - name: /etc/ssh/sshd_config
    - replace: False
    - mode: '0600'

{#- cloud-init makes the host keys of an instance at its first boot (its ssh module,
    `ssh_genkeytypes`, default rsa, ecdsa and ed25519): only ed25519 and RSA here, and
    an ECDSA key would go unused anyway (HostKey above). #}
hardening-cloud-init-host-key-types-managed:
  file.managed:
    - name: /etc/cloud/cloud.cfg.d/60-golden-ssh-host-keys.cfg
    - makedirs: True
    - contents: |
        # Managed by Salt (golden hardening formula).
        ssh_genkeytypes: [ed25519, rsa]

{#- Images ship without host keys (cleanup removes them); every instance makes its own at
    first boot, before sshd starts: ed25519 and 4096-bit RSA, each only when missing, so
    the unit needs no condition: with one (key absent) the unit stays inactive on a build
    instance that already has its keys (every EC2 instance does), and service.running
    below fails the bake. No `ssh-keygen -A`: it makes an ECDSA key too. #}
hardening-ssh-host-keys-unit-managed:
  file.managed:
    - name: /etc/systemd/system/golden-ssh-host-keys.service
    - contents: |
        [Unit]
        Description=Generate the SSH host keys missing from the golden image (ed25519, RSA)
        # After cloud-init, whose ssh module may delete and make host keys on an instance.
        After=cloud-init.service
        Before=ssh.service
        [Service]
        Type=oneshot
        RemainAfterExit=yes
{%- for kind, args in keys | dictsort %}
        ExecStart=/bin/sh -c 'test -s /etc/ssh/ssh_host_{{ kind }}_key || exec /usr/bin/ssh-keygen -q {{ args }} -N "" -f /etc/ssh/ssh_host_{{ kind }}_key'
{%- endfor %}
        # Sandbox: it only ever writes /etc/ssh.
        PrivateTmp=yes
        PrivateNetwork=yes
        ProtectSystem=strict
        ReadWritePaths=/etc/ssh
        ProtectHome=yes
        NoNewPrivileges=yes
        ProtectKernelTunables=yes
        ProtectKernelModules=yes
        ProtectControlGroups=yes
        RestrictSUIDSGID=yes
        LockPersonality=yes
        [Install]
        WantedBy=multi-user.target

hardening-ssh-host-keys-unit-enabled:
  service.enabled:
    - name: golden-ssh-host-keys
    - require:
      - file: hardening-ssh-host-keys-unit-managed

hardening-ssh-host-keys-present:
  service.running:
    - name: golden-ssh-host-keys
    - require:
      - service: hardening-ssh-host-keys-unit-enabled

hardening-sshd-running:
  service.running:
    - name: {{ hardening.ssh_service }}
    - enable: True
    - reload: True
    - require:
      - service: hardening-ssh-host-keys-present
    - watch:
      - file: hardening-sshd-config-managed
      - file: hardening-sshd-earlier-config-absent
