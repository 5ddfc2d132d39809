#!/usr/bin/env bash
# The one provisioning path. Twin builds (golden image) and AMI bakes (Packer, both
# sources) run this same script on the target, as root:
#   provision.sh --role app|chroma|base --platform aws|twin [--src DIR]
#                [--salt-install wheelhouse|onedir|pip] [--skip-tests] [--no-cleanup]
# DIR holds what the build uploaded: salt/, pillar/, schemas/, wheelhouse/, tests/image/,
# images/ (the role's image archive; none for base), certs/ and provenance.json. Role
# base is OS + Docker + Salt + CloudWatch agent; a role bake may start from it and runs
# the role's full highstate on top (the base states are then no-ops).
# Steps: apply every pending package update, install Salt into /opt/salt, place the trees
# at /srv, set the role grain, highstate, record the package set and the SBOM, run the
# image tests, clean the image. Any failure exits non-zero.
set -euo pipefail

ROLE="" PLATFORM="aws" SRC="/var/tmp/golden" INSTALL="wheelhouse" TESTS=1 CLEANUP=1
PASSED=0 FAILED=0 SKIPPED=0
SALT_VENV=/opt/salt
SALT_ONEDIR_VERSION="${SALT_ONEDIR_VERSION:-3008.4}"

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "golden-provision: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --role) ROLE="${2:-}"; shift 2 ;;
    --platform) PLATFORM="${2:-}"; shift 2 ;;
    --src) SRC="${2:-}"; shift 2 ;;
    --salt-install) INSTALL="${2:-}"; shift 2 ;;
    --skip-tests) TESTS=0; shift ;;
    --no-cleanup) CLEANUP=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

case "$ROLE" in app|chroma|base) ;; *) die "--role: expected app, chroma or base, got '${ROLE}'" ;; esac
case "$PLATFORM" in aws|twin) ;; *) die "--platform: expected aws or twin, got '${PLATFORM}'" ;; esac
for dir in salt pillar schemas; do
  [ -d "$SRC/$dir" ] || die "--src: $SRC/$dir is missing (upload salt/, pillar/ and schemas/ first)"
done

started=$(date +%s)
step() { echo "==> golden-provision [$(( $(date +%s) - started ))s] $*"; }
export DEBIAN_FRONTEND=noninteractive

# Options every apt run of the build shares: no prompts about changed conffiles (keep
# ours), wait for a lock cloud-init or unattended-upgrades may hold, retry downloads.
APT_OPTS=(-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
          -o DPkg::Lock::Timeout=300 -o Acquire::Retries=5)

update_packages() {
  # The source image (a cloud image, the twin's base) is as old as its build: without
  # this, an image carries its source's packages until unattended-upgrades first runs,
  # up to a day after launch. Everything pending is applied, not only security updates,
  # before any state runs; phased updates too (Ubuntu would hold some back otherwise).
  step "applying pending package updates"
  apt-get "${APT_OPTS[@]}" update -q
  apt-get "${APT_OPTS[@]}" -o APT::Get::Always-Include-Phased-Updates=true -y -q \
    upgrade --with-new-pkgs
}

install_salt() {
  step "installing Salt into $SALT_VENV ($INSTALL)"
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt-get "${APT_OPTS[@]}" update -qq && apt-get "${APT_OPTS[@]}" install -y -qq python3-venv >/dev/null
  fi
  [ "$INSTALL" = onedir ] || [ -x "$SALT_VENV/bin/python" ] || python3 -m venv "$SALT_VENV"
  for file in requirements.txt golden.txt onedir.txt tests.txt; do
    [ -f "$SRC/wheelhouse/$file" ] || die "$SRC/wheelhouse/$file is missing (the wheelhouse is built from the lock by golden twin build / make image)"
  done
  case "$INSTALL" in
    wheelhouse)
      # Every distribution is checked against the lock's sha256 (golden's against the
      # digest of the wheel built from this checkout): nothing is resolved here.
      "$SALT_VENV/bin/pip" install -q --require-hashes --no-index --find-links "$SRC/wheelhouse" \
        -r "$SRC/wheelhouse/requirements.txt" -r "$SRC/wheelhouse/golden.txt" ;;
    onedir)
      # Salt's own build with its bundled Python (relenv), for targets whose Python the
      # wheelhouse was not built for (Ubuntu 22.04: 3.10). The golden package and its
      # pure-Python dependencies still come from the wheelhouse. Not exercised in this
      # repository's CI (no route to the Salt Project's downloads).
      local url="${SALT_ONEDIR_URL:-https://packages.broadcom.com/artifactory/saltproject-generic/onedir/$SALT_ONEDIR_VERSION/salt-$SALT_ONEDIR_VERSION-onedir-linux-$(uname -m).tar.xz}"
      rm -rf "$SALT_VENV" && mkdir -p "$SALT_VENV"
      curl -fsSL --retry 3 "$url" | tar -xJ -C "$SALT_VENV" --strip-components=1
      mkdir -p "$SALT_VENV/bin"
      for tool in salt-call salt-pip; do ln -sf "$SALT_VENV/$tool" "$SALT_VENV/bin/$tool"; done
      "$SALT_VENV/bin/python3" -m pip install -q --require-hashes --no-deps --no-index \
        --find-links "$SRC/wheelhouse" -r "$SRC/wheelhouse/onedir.txt" -r "$SRC/wheelhouse/golden.txt" ;;
    pip)
      # Needs PyPI and a compiler on the target (Salt 3008 pulls timelib, built from source).
      "$SALT_VENV/bin/pip" install -q --require-hashes -r "$SRC/wheelhouse/requirements.txt" \
        -r "$SRC/wheelhouse/golden.txt" --find-links "$SRC/wheelhouse" ;;
    *) die "--salt-install: expected wheelhouse, onedir or pip, got '$INSTALL'" ;;
  esac
  "$SALT_VENV/bin/salt-call" --version
}

place_trees() {
  # The pillar guard (salt/_modules/golden_pillar.py) reads /srv/schemas beside /srv/salt.
  step "placing the state tree at /srv/salt, pillar at /srv/pillar, schemas at /srv/schemas"
  for tree in salt pillar schemas; do
    rm -rf "/srv/$tree.new"
    mkdir -p /srv
    cp -a "$SRC/$tree" "/srv/$tree.new"
    rm -rf "/srv/$tree"
    mv "/srv/$tree.new" "/srv/$tree"
  done
  mkdir -p /etc/salt/minion.d
  cat > /etc/salt/minion.d/golden.conf <<CONF
file_client: local
file_roots: {base: [/srv/salt]}
pillar_roots: {base: [/srv/pillar]}
state_output: changes
CONF
  # Salt has no "quiet" outputter (it logs an ERROR and falls back): JSON, discarded.
  "$SALT_VENV/bin/salt-call" --local --out=json grains.setval role "$ROLE" >/dev/null
  "$SALT_VENV/bin/salt-call" --local --out=json grains.setval platform "$PLATFORM" >/dev/null
  "$SALT_VENV/bin/salt-call" --local --out=json saltutil.sync_all saltenv=base >/dev/null
}

highstate() {
  step "highstate (role=$ROLE platform=$PLATFORM)"
  # Tells the boot step this is a build (no instance settings yet). /run is a tmpfs:
  # the marker cannot reach the image.
  mkdir -p /run/golden && touch /run/golden/build
  "$SALT_VENV/bin/salt-call" --local state.highstate --retcode-passthrough --state-verbose=False
}

record_packages() {
  # Name, version and origin of every package, and what is still pending, while apt's
  # lists are here (the clean-up removes them). The bake copies it into its record.
  step "recording the package set in /etc/golden/packages.json"
  "$SALT_VENV/bin/golden" instance packages --output /etc/golden/packages.json
}

run_tests() {
  local marker="$1" label="$2" venv=/var/tmp/golden-tests report
  step "image tests: $label"
  [ -x "$venv/bin/pytest" ] || {
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --require-hashes --no-index --find-links "$SRC/wheelhouse" \
      -r "$SRC/wheelhouse/tests.txt"
  }
  report="$SRC/test-report-$label.xml"
  set +e
  GOLDEN_ROLE="$ROLE" GOLDEN_PLATFORM="$PLATFORM" "$venv/bin/pytest" -q -p no:cacheprovider \
    --hosts=local:// -m "$marker" --junitxml="$report" "$SRC/tests/image"
  local rc=$?
  set -e
  local counts p f s
  counts=$(python3 - "$report" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1, 0)
    raise SystemExit
suite = root if root.tag == "testsuite" else root.find("testsuite")
total, failed = int(suite.get("tests")), int(suite.get("failures")) + int(suite.get("errors"))
skipped = int(suite.get("skipped"))
print(total - failed - skipped, failed, skipped)
PY
)
  read -r p f s <<<"$counts"
  PASSED=$((PASSED + p)) FAILED=$((FAILED + f)) SKIPPED=$((SKIPPED + s))
  if [ "$rc" -ne 0 ]; then
    summary
    echo "golden-provision: error: image tests ($label) failed" >&2
    exit 1
  fi
  # All skipped is not a pass: only tests that ran for this role may mark it tested.
  if [ "$p" -eq 0 ]; then
    summary
    echo "golden-provision: error: no image test ran for role $ROLE ($label)" >&2
    exit 1
  fi
}

record_sbom() {
  # The image's CycloneDX SBOM: dpkg packages, Salt's Python environment, the container
  # images by digest and their Python packages (from the staged archives' manifests).
  # The bake downloads it beside its record, scans it (AWS) and uploads it with the AMI.
  step "recording the SBOM in /etc/golden/sbom.cdx.json"
  "$SALT_VENV/bin/golden" instance sbom --output /etc/golden/sbom.cdx.json --images "$SRC/images"
}

# The bake wrapper reads this line for its build record.
summary() { echo "golden-provision: tests passed=$PASSED failed=$FAILED skipped=$SKIPPED"; }

cleanup() {
  step "cleaning the image"
  "$SALT_VENV/bin/salt-call" --local state.apply cleanup --retcode-passthrough --state-verbose=False
}

update_packages
install_salt
place_trees
highstate
record_packages
record_sbom
if [ "$TESTS" = 1 ]; then
  [ -d "$SRC/tests/image" ] || die "--src: $SRC/tests/image is missing (or pass --skip-tests)"
  run_tests "not image_leftovers" built
fi
if [ "$CLEANUP" = 1 ]; then
  cleanup
  if [ "$TESTS" = 1 ]; then run_tests "image_leftovers" cleaned; fi
  rm -rf /var/tmp/golden-tests "$SRC"
fi
if [ "$TESTS" = 1 ]; then summary; fi
step "done"
