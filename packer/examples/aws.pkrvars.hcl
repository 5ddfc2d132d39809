# Example variables for an AMI bake (amazon-ebs.ubuntu). Credentials never go here: Packer
# takes them from the environment, an AWS profile or an instance role.
#   packer validate -var-file=examples/aws.pkrvars.hcl -only=amazon-ebs.ubuntu .
role                   = "chroma"
version                = "0.1.0"
staging_dir            = "examples/staging"
salt_install           = "onedir"
git_revision           = "0000000000000000000000000000000000000000"
state_tree_revision    = "0000000000000000000000000000000000000000"
app_images             = "chroma@sha256:0000000000000000000000000000000000000000000000000000000000000000"
packer_version         = "1.6.6"
manifest_path          = "../build/packer-manifest.json"
packages_path          = "../build/packages.json"
aws_region             = "eu-west-1"
ami_regions            = ["eu-central-1"]
arch                   = "amd64"
root_volume_size       = 20
root_volume_iops       = 3000
root_volume_throughput = 125
ssh_interface          = "session_manager"
ecr_repository_arns    = ["arn:aws:ecr:eu-west-1:123456789012:repository/agent/*"]
