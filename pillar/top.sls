# Pillar is chosen by grains the provisioning path sets: `role` (app|chroma|base) and
# `platform` (aws|twin). Every key is documented in pillar.example.
base:
  '*':
    - common
  'role:app':
    - match: grain
    - roles.app
  'role:chroma':
    - match: grain
    - roles.chroma
  'role:base':
    - match: grain
    - roles.base
  # Everything in which the local twin differs from an instance on AWS, in one file.
  'platform:twin':
    - match: grain
    - twin
