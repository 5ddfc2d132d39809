{%- from 'hardening/map.jinja' import hardening with context %}
{#- Host hardening from the CIS benchmarks and lynis, where it fits an EC2 web host whose
    only logins are administrators' ssh keys. Left out on purpose (docs/security.md):
    separate partitions, a GRUB password, password expiry (it would lock key-only users
    out of an instance after PASS_MAX_DAYS), fail2ban, AIDE, malware scanners,
    process accounting. needrestart and the toolchain are not only left out but kept out
    (never_installed in defaults.yaml). #}

{#- Packages: per-session temporary directories (libpam-tmpdir), a password quality
    check for any password ever set (libpam-pwquality), verification of installed files
    against their packages (debsums). #}
hardening-system-packages-installed:
  pkg.installed:
    - pkgs: [libpam-tmpdir, libpam-pwquality, debsums]

{#- Before the docker formula installs docker.io: with the pin in place, apt skips the
    packages among docker.io's Recommends. #}
hardening-never-installed-packages-pinned:
  file.managed:
    - name: /etc/apt/preferences.d/60-golden-never-installed
    - mode: '0644'
    - contents: |
        # Managed by Salt (golden hardening formula): apt never installs these.
        Package: {{ hardening.never_installed | join(' ') }}
        Pin: release *
        Pin-Priority: -1

hardening-never-installed-packages-purged:
  pkg.purged:
    - pkgs: {{ hardening.never_installed | json }}

{#- New files and home directories are not readable by others; stronger hashing of any
    password set with chpasswd; a day between password changes. #}
{%- for key, value in hardening.login_defs | dictsort %}
hardening-login-defs-{{ key | lower }}-set:
  file.replace:
    - name: /etc/login.defs
    # The setting, commented or not; not the comment lines that explain it. Blanks are
    # [ \t], never \s: \s also matches the line's newline, and the file would lose it
    # on every run (no second highstate would be a no-op).
    - pattern: ^[ \t]*#?[ \t]*{{ key }}[ \t]+\S+[ \t]*$
    - repl: {{ key }} {{ value }}
    - append_if_not_found: True
    - backup: False
{%- endfor %}

{#- Shown before login (console, ssh): who may use this system. #}
{%- for path in ['/etc/issue', '/etc/issue.net'] %}
hardening-banner-{{ path.split('/')[-1] }}-managed:
  file.managed:
    - name: {{ path }}
    - mode: '0644'
    - contents: |
        Authorized access only. This system is the property of its owner; all connections
        are monitored and recorded, and activity is logged and audited. Unauthorized access
        or use is prohibited and may be reported to law enforcement. By continuing you
        consent to these terms and to the monitoring policy.
{%- endfor %}

{#- Kernel modules nothing here uses: storage over USB and FireWire, and rarely used
    network protocols with a history of vulnerabilities. #}
hardening-unused-kernel-modules-disabled:
  file.managed:
    - name: /etc/modprobe.d/60-golden-disabled.conf
    - contents: |
        # Managed by Salt (golden hardening formula): never loaded on this host.
{%- for module in ['usb-storage', 'firewire-core', 'firewire-ohci', 'dccp', 'sctp', 'rds', 'tipc'] %}
        install {{ module }} /bin/false
        blacklist {{ module }}
{%- endfor %}

{#- No core dumps: they can hold secrets from a process's memory. #}
hardening-core-dumps-off-limits:
  file.managed:
    - name: /etc/security/limits.d/10-golden-no-core.conf
    - contents: |
        # Managed by Salt (golden hardening formula).
        * hard core 0

{#- The same limit for shells that start without PAM's limits (a root shell from
    `docker exec` on the twin, `su` without pam_limits). #}
hardening-core-dumps-off-shells:
  file.managed:
    - name: /etc/profile.d/60-golden-no-core.sh
    - mode: '0644'
    - contents: |
        # Managed by Salt (golden hardening formula).
        ulimit -c 0

hardening-core-dumps-off-systemd:
  file.managed:
    - name: /etc/systemd/coredump.conf.d/60-golden.conf
    - makedirs: True
    - contents: |
        # Managed by Salt (golden hardening formula).
        [Coredump]
        Storage=none
        ProcessSizeMax=0

{#- Idle shells end after 15 minutes. #}
hardening-idle-shell-timeout-managed:
  file.managed:
    - name: /etc/profile.d/60-golden-timeout.sh
    - mode: '0644'
    - contents: |
        # Managed by Salt (golden hardening formula).
        TMOUT=900
        readonly TMOUT
        export TMOUT

{#- cron's tables and folders readable by root only (where cron is installed). #}
{#- Checked when the state runs, not when the tree renders: packages this very highstate
    installs create some of these, and a render-time check would leave them to the next
    run (no second highstate would be a no-op). #}
hardening-crontab-private:
  file.managed:
    - name: /etc/crontab
    - replace: False
    - create: False
    - mode: '0600'

{%- for folder in ['cron.d', 'cron.daily', 'cron.hourly', 'cron.weekly', 'cron.monthly'] %}
hardening-{{ folder | replace('.', '-') }}-private:
  file.directory:
    - name: /etc/{{ folder }}
    - mode: '0700'
    - onlyif: test -d /etc/{{ folder }}
{%- endfor %}
