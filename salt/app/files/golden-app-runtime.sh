#!/bin/sh
# Decides, at every start of app.service, what depends on the machine rather than the
# image: gunicorn workers per backend replica = 2 x vCPU + 1, capped by WORKER_CAP.
set -eu
. /etc/app/runtime.conf
vcpu=$(nproc)
workers=$((2 * vcpu + 1))
if [ "$workers" -gt "$WORKER_CAP" ]; then workers=$WORKER_CAP; fi
mkdir -p /run/app
umask 022
printf 'WEB_CONCURRENCY=%s\nGOLDEN_VCPU=%s\n' "$workers" "$vcpu" > /run/app/runtime.env.tmp
mv /run/app/runtime.env.tmp /run/app/runtime.env
