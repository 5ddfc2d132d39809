{%- from 'hardening/map.jinja' import hardening with context %}

hardening-sshd-config-managed:
  file.managed:
    - name: /etc/ssh/sshd_config.d/50-golden.conf
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (golden hardening formula).
        Port {{ hardening.ssh_port }}
        PermitRootLogin no
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitEmptyPasswords no
        X11Forwarding no
        MaxAuthTries 3
        ClientAliveInterval 300

{#- Images ship without host keys (cleanup removes them); every instance makes its own at
    first boot, before sshd starts. `ssh-keygen -A` creates only the missing ones, so the
    unit needs no condition: with one (key absent) the unit stays inactive on a build
    instance that already has its keys (every EC2 instance does), and service.running
    below fails the bake. #}
hardening-ssh-host-keys-unit-managed:
  file.managed:
    - name: /etc/systemd/system/golden-ssh-host-keys.service
    - contents: |
        [Unit]
        Description=Generate SSH host keys missing from the golden image
        Before=ssh.service
        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=/usr/bin/ssh-keygen -A
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
