include:
  - base.packages
  - base.time
  - base.journald
  - base.syslog
  - base.sysctl
  - base.limits
