"""Tag keys the bake writes on every AMI and the release tool reads. The bake imports these
constants so both sides always agree on the spelling."""

ROLE = "golden:role"  # app | chroma | base
TESTED = "golden:tested"  # "true" only after the in-bake tests passed
VERSION = "golden:version"
GIT_REVISION = "golden:git-revision"
STATE_TREE_REVISION = "golden:state-tree-revision"
BUILD_TIME = "golden:build-time"  # ISO 8601 UTC, e.g. 2026-11-26T06:00:00Z
SOURCE_AMI = "golden:source-ami"
SOURCE_AMI_NAME = "golden:source-ami-name"
PACKER_VERSION = "golden:packer-version"
APP_IMAGES = "golden:app-images"
# s3://BUCKET/KEY of the image's CycloneDX SBOM (golden bake uploads it; golden sbom reads it).
SBOM = "golden:sbom"
# When `golden amis prune` disabled the AMI (ISO 8601 UTC): its grace period starts there.
DISABLED_AT = "golden:disabled-at"

AMI_ROLES = ("app", "chroma", "base")
TESTED_VALUE = "true"

PROVENANCE = (
    ROLE,
    TESTED,
    VERSION,
    GIT_REVISION,
    STATE_TREE_REVISION,
    BUILD_TIME,
    SOURCE_AMI,
    SOURCE_AMI_NAME,
    PACKER_VERSION,
    APP_IMAGES,
)

# Written by the release tool on launch templates, groups and instances.
ENVIRONMENT = "golden:environment"
KNOWN_GOOD = "golden:known-good-versions"  # launch template: space-separated version numbers
DATA_VOLUME = "golden:data-volume"  # chroma instances: Name tag of their data volume
