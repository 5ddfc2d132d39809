include:
  - hardening.ssh
  - hardening.upgrades
  - hardening.firewall
