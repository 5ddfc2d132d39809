#!/usr/bin/env bash
# Installs and starts what golden needs on a fresh Debian 12 / Ubuntu 22.04 machine, the
# one place that knows it: `make local` and `make test` run it first, `.ci/run` too.
#
#   scripts/bootstrap.sh [--for local|test] [--check]
#
# --for local: what `make local` needs (Docker engine running, debootstrap, python3-venv,
#              git, openssl, ...); --for test (default): that plus what the whole suite
#              needs (packer, postgresql, redis-server, iproute2, haproxy for the
#              release rehearsal, lynis for `golden audit`, pgloader for
#              `golden cutover`, Node.js/npm and chromium for the Next.js example's
#              build and browser check).
# --check:     only report, one line per need, and the command that would fix it;
#              exit 0 when nothing is missing, 1 otherwise. Changes nothing.
# Otherwise:   as root, installs the missing packages with apt-get and starts dockerd
#              when no daemon answers; as anyone else, prints the exact command to run
#              and exits 1 before changing anything.
set -uo pipefail

FOR=test
CHECK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --for) FOR="${2:-}"; shift 2 ;;
    --for=*) FOR="${1#--for=}"; shift ;;
    --check) CHECK=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bootstrap: unknown argument: $1 (expected --for local|test, --check)" >&2; exit 2 ;;
  esac
done
case "$FOR" in
  local|test) ;;
  *) echo "bootstrap: --for: expected local or test, got '$FOR'" >&2; exit 2 ;;
esac

# program -> Debian package that provides it (the same name on Ubuntu 22.04).
NEEDS_LOCAL=(
  "docker:docker.io" "dockerd:docker.io" "debootstrap:debootstrap" "git:git"
  "openssl:openssl" "curl:curl" "python3:python3-venv"
)
NEEDS_TEST=(
  "packer:packer" "ip:iproute2" "pg_ctlcluster:postgresql" "redis-server:redis-server"
  "haproxy:haproxy" "lynis:lynis" "pgloader:pgloader" "node:nodejs" "npm:npm"
  "chromium:chromium"
)
DOCKERD_LOG=/var/log/golden-dockerd.log
DOCKERD_WAIT=60

needs=("${NEEDS_LOCAL[@]}")
[ "$FOR" = test ] && needs+=("${NEEDS_TEST[@]}")

missing_packages=()
add_missing() {
  local pkg
  for pkg in "${missing_packages[@]}"; do [ "$pkg" = "$1" ] && return; done
  missing_packages+=("$1")
}

report() { printf '%-8s %s\n' "$1" "$2"; }

for need in "${needs[@]}"; do
  program=${need%%:*} package=${need#*:}
  if command -v "$program" >/dev/null 2>&1; then
    report ok "$program ($package)"
  else
    report missing "$program ($package)"
    add_missing "$package"
  fi
done
# venv and ensurepip are a package of their own on Debian and Ubuntu.
if command -v python3 >/dev/null 2>&1; then
  if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    report ok "python3 -m venv (python3-venv)"
  else
    report missing "python3 -m venv (python3-venv)"
    add_missing python3-venv
  fi
fi
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  report ok "CA certificates (ca-certificates)"
else
  report missing "CA certificates (ca-certificates)"
  add_missing ca-certificates
fi

# The daemon: the machine may have a docker client but no engine, or an engine not running.
daemon=down
if command -v docker >/dev/null 2>&1; then
  if info=$(docker info 2>&1 >/dev/null); then
    daemon=up
  elif printf '%s' "$info" | grep -qi "permission denied"; then
    daemon=denied
  fi
fi
case "$daemon" in
  up) report ok "Docker daemon answers" ;;
  denied) report missing "Docker daemon: running, but this user may not use it" ;;
  *) report missing "Docker daemon: not running" ;;
esac

install_cmd=""
if [ ${#missing_packages[@]} -gt 0 ]; then
  install_cmd="apt-get update && apt-get install -y --no-install-recommends ${missing_packages[*]}"
fi
start_cmd="dockerd >$DOCKERD_LOG 2>&1 &"

if [ ${#missing_packages[@]} -eq 0 ] && [ "$daemon" = up ]; then
  echo "bootstrap: everything \`make $FOR\` needs is here"
  exit 0
fi

euid=${EUID:-$(id -u)}
if [ "$CHECK" = 1 ] || [ "$euid" != 0 ]; then
  if [ "$CHECK" = 1 ]; then
    echo "bootstrap: missing for \`make $FOR\`; as root, this would run:"
  else
    echo "bootstrap: missing for \`make $FOR\`; nothing was changed. Run as root:" >&2
  fi
  {
    [ -n "$install_cmd" ] && echo "  sudo sh -c '$install_cmd'"
    if [ "$daemon" = denied ]; then
      echo "  sudo usermod -aG docker $(id -un)   # then log in again"
    elif [ "$daemon" = down ]; then
      echo "  sudo sh -c '$start_cmd'"
    fi
    echo "  (or all of it: sudo scripts/bootstrap.sh --for $FOR)"
  } | if [ "$CHECK" = 1 ]; then cat; else cat >&2; fi
  exit 1
fi

set -e
export DEBIAN_FRONTEND=noninteractive
if [ -n "$install_cmd" ]; then
  echo "bootstrap: installing ${missing_packages[*]}"
  apt-get -o Acquire::Retries=5 update -qq
  apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  echo "bootstrap: starting dockerd (log: $DOCKERD_LOG)"
  (dockerd >"$DOCKERD_LOG" 2>&1 &)
  for _ in $(seq 1 "$DOCKERD_WAIT"); do docker info >/dev/null 2>&1 && break; sleep 1; done
  if ! docker info >/dev/null 2>&1; then
    echo "bootstrap: dockerd did not answer within ${DOCKERD_WAIT}s; its log ends:" >&2
    tail -20 "$DOCKERD_LOG" >&2
    exit 1
  fi
fi
echo "bootstrap: ready for \`make $FOR\`"
