# Example variables for the local twin (docker.twin). `golden bake --target local` fills
# the provenance values itself; these let `packer validate` run from the packer/ folder:
#   packer validate -var-file=examples/local.pkrvars.hcl -only=docker.twin .
role                = "app"
version             = "0.1.0"
staging_dir         = "examples/staging"
salt_install        = "wheelhouse"
git_revision        = "0000000000000000000000000000000000000000"
state_tree_revision = "0000000000000000000000000000000000000000"
app_images          = "backend@sha256:0000000000000000000000000000000000000000000000000000000000000000"
packer_version      = "1.6.6"
manifest_path       = "../build/packer-manifest.json"
packages_path       = "../build/packages.json"
twin_base_image     = "golden/base:bookworm"
