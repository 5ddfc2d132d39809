include:
  - hardening.ssh
  - hardening.upgrades
  - hardening.firewall
  - hardening.audit
  - hardening.system
