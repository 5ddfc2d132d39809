#!/bin/sh
# Decides, at every start of app.service, what depends on the machine rather than the
# image: gunicorn workers per backend replica = ceil(vCPU / replicas), at least 1, capped
# by WORKER_CAP. The workers are uvicorn event loops, so one loop per vCPU across all
# replicas already fills the CPU; more processes only add scheduling cost (README,
# Performance: "Workers per replica").
set -eu
. /etc/app/runtime.conf
vcpu=$(nproc)
replicas=${REPLICAS:-1}
[ "$replicas" -ge 1 ] || replicas=1
workers=$(( (vcpu + replicas - 1) / replicas ))
[ "$workers" -ge 1 ] || workers=1
if [ "$workers" -gt "$WORKER_CAP" ]; then workers=$WORKER_CAP; fi
mkdir -p /run/app
umask 022
printf 'WEB_CONCURRENCY=%s\nGOLDEN_VCPU=%s\n' "$workers" "$vcpu" > /run/app/runtime.env.tmp
mv /run/app/runtime.env.tmp /run/app/runtime.env
