include:
  - base.packages
  - base.time
  - base.journald
  - base.sysctl
  - base.limits
