# Inputs of the golden bake. `golden bake` fills the provenance variables (git revisions,
# image digests, Packer version) itself; everything else keeps the defaults below unless
# a var file or --var overrides it, so this file is the single source of truth.

# ---------------------------------------------------------------- what is baked

variable "role" {
  type        = string
  description = "Role of the image: app (backend, frontend, nginx), chroma (Chroma host) or base (OS, Docker, Salt, CloudWatch agent only)."

  validation {
    condition     = contains(["app", "chroma", "base"], var.role)
    error_message = "The role variable must be one of: app, chroma, base."
  }
}

variable "version" {
  type        = string
  description = "Release version of the platform baked into the image, MAJOR.MINOR.PATCH with an optional -prerelease (letters, digits, dots). It is part of the AMI name, so no other characters."
  default     = "0.1.0"

  validation {
    # regex_replace, not regex: Packer 1.6.6 has no regex().
    condition     = var.version != "" && regex_replace(var.version, "^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.]+)?$", "") == ""
    error_message = "The version variable must look like 1.2.3 or 1.2.3-rc.1 (it goes into the AMI name)."
  }
}

variable "staging_dir" {
  type        = string
  description = "Local folder uploaded to /var/tmp/golden: provision.sh, salt/, pillar/, wheelhouse/, tests/image/ and optionally images/. `golden bake` assembles it under build/stage/."
}

variable "salt_install" {
  type        = string
  description = "How provision.sh installs Salt: wheelhouse (offline, from the uploaded wheels; the wheels must match the image's Python) or onedir (Salt's package with bundled Python)."
  default     = "wheelhouse"

  validation {
    condition     = contains(["wheelhouse", "onedir"], var.salt_install)
    error_message = "The salt_install variable must be wheelhouse or onedir."
  }
}

variable "provision_platform" {
  type        = string
  description = "Platform provision.sh applies (which pillar differences hold): twin or aws; empty follows the source (docker.twin -> twin, amazon-ebs.ubuntu -> aws). The emulated AWS bake sets twin: its build instance is a container on the build machine, where aws settings would write host-wide sysctls and fetch the CloudWatch agent from the internet."
  default     = ""

  validation {
    condition     = contains(["", "twin", "aws"], var.provision_platform)
    error_message = "The provision_platform variable must be empty, twin or aws."
  }
}

# ---------------------------------------------------------------- provenance

variable "git_revision" {
  type        = string
  description = "Git revision of the repository the bake ran from (suffix -dirty-<hash> when the work tree had changes). Tagged as golden:git-revision."

  validation {
    condition     = length(var.git_revision) > 0 && length(var.git_revision) <= 128 && regex_replace(var.git_revision, "[0-9A-Za-z.:_+=@/-]", "") == ""
    error_message = "The git_revision variable must be 1-128 characters of letters, digits and . : _ + = @ / - (AWS tag value characters)."
  }
}

variable "state_tree_revision" {
  type        = string
  description = "Revision of the Salt state tree and pillar (salt/, pillar/) that was applied. Tagged as golden:state-tree-revision."

  validation {
    condition     = length(var.state_tree_revision) > 0 && length(var.state_tree_revision) <= 128 && regex_replace(var.state_tree_revision, "[0-9A-Za-z.:_+=@/-]", "") == ""
    error_message = "The state_tree_revision variable must be 1-128 characters of letters, digits and . : _ + = @ / - (AWS tag value characters)."
  }
}

variable "app_images" {
  type        = string
  description = "Application container images pinned in the image, as space-separated name@sha256:digest entries (\"none\" for the base role). Tagged as golden:app-images; AWS limits tag values to 256 characters."
  default     = "none"

  validation {
    condition     = length(var.app_images) > 0 && length(var.app_images) <= 256
    error_message = "The app_images variable must be 1-256 characters (an AWS tag value)."
  }
}

variable "packer_version" {
  type        = string
  description = "Version of the Packer binary running the bake (Packer 1.6.6 has no packer.version); `golden bake` reads it from `packer version`. Tagged as golden:packer-version."

  validation {
    condition     = var.packer_version != "" && regex_replace(var.packer_version, "^[0-9]+\\.[0-9]+\\.[0-9]+.*$", "") == ""
    error_message = "The packer_version variable must start with MAJOR.MINOR.PATCH, as printed by `packer version`."
  }
}

variable "build_time" {
  type        = string
  description = "Build time as RFC 3339 UTC (2026-01-31T12:00:00Z); empty means now. `golden bake` passes its own start time so the image, its tags and provenance.json agree. Tagged as golden:build-time and part of the AMI name."
  default     = ""

  validation {
    condition     = var.build_time == "" || regex_replace(var.build_time, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", "") == ""
    error_message = "The build_time variable must be empty or RFC 3339 UTC like 2026-01-31T12:00:00Z."
  }
}

variable "manifest_path" {
  type        = string
  description = "Where the manifest post-processor writes what was built; `golden bake` gives every bake its own file under build/bakes/."
  default     = "build/packer-manifest.json"
}

variable "packages_path" {
  type        = string
  description = "Where the image's package record (/etc/golden/packages.json: every package with its version and origin, pending updates) is downloaded to; `golden bake` gives every bake its own file under build/bakes/ and copies it into the build record."
  default     = "build/packages.json"
}

variable "sbom_path" {
  type        = string
  description = "Where the image's SBOM (/etc/golden/sbom.cdx.json, CycloneDX 1.5) is downloaded to; `golden bake` gives every bake its own file under build/bakes/."
  default     = "build/sbom.cdx.json"
}

# ---------------------------------------------------------------- amazon-ebs source

variable "aws_region" {
  type        = string
  description = "Region the build instance runs in and the AMI is registered in."
  default     = "us-east-1"
}

variable "ami_regions" {
  type        = list(string)
  description = "Further regions the finished AMI is copied to (encrypted, with the same tags)."
  default     = []
}

variable "region_kms_key_ids" {
  type        = map(string)
  description = "KMS key per copy region (region => key ARN or alias); required for every region in ami_regions when kms_key_id is set."
  default     = {}
}

variable "arch" {
  type        = string
  description = "CPU architecture of the Ubuntu 22.04 source image and the AMI: amd64 or arm64."
  default     = "amd64"

  validation {
    condition     = contains(["amd64", "arm64"], var.arch)
    error_message = "The arch variable must be amd64 or arm64."
  }
}

variable "instance_type" {
  type        = string
  description = "Build instance type; empty picks t3.medium for amd64 and t4g.medium for arm64."
  default     = ""
}

variable "source_ami_owners" {
  type        = list(string)
  description = "Accounts the source image may come from; Canonical (099720109477) by default."
  default     = ["099720109477"]
}

variable "source_ami_name_pattern" {
  type        = string
  description = "Name filter for the source image; empty means Ubuntu 22.04 (jammy) server for var.arch. The newest match is used."
  default     = ""
}

variable "source_ami_filters" {
  type        = map(string)
  description = "Further DescribeImages filters for the source image, added to name, architecture, virtualization and root device type (e.g. {\"tag:golden:role\" = \"base\"}). `golden bake --from-base` sets them, with source_ami_owners [\"self\"], to start from the newest tested base AMI of this account."
  default     = {}
}

variable "root_volume_size" {
  type        = number
  description = "Root volume size in GiB."
  default     = 20
}

variable "root_volume_iops" {
  type        = number
  description = "Provisioned IOPS of the gp3 root volume (3000-16000)."
  default     = 3000
}

variable "root_volume_throughput" {
  type        = number
  description = "Throughput of the gp3 root volume in MiB/s (125-1000)."
  default     = 125
}

variable "kms_key_id" {
  type        = string
  description = "KMS key (ARN, id or alias) for the encrypted root volume and AMI; empty uses the account's default EBS key. Encryption itself cannot be switched off."
  default     = ""
}

variable "subnet_id" {
  type        = string
  description = "Subnet for the build instance; empty lets EC2 choose (default VPC)."
  default     = ""
}

variable "ssh_interface" {
  type        = string
  description = "How Packer reaches the build instance: empty (Packer decides), public_ip, private_ip, public_dns, private_dns, or session_manager (no inbound port; needs the SSM agent, which Canonical images carry)."
  default     = ""

  validation {
    condition     = contains(["", "public_ip", "private_ip", "public_dns", "private_dns", "session_manager"], var.ssh_interface)
    error_message = "The ssh_interface variable must be empty or one of public_ip, private_ip, public_dns, private_dns, session_manager."
  }
}

variable "ssh_source_cidrs" {
  type        = list(string)
  description = "CIDRs allowed to reach SSH on the temporary security group. Narrow this to your build network; unused with session_manager."
  default     = ["0.0.0.0/0"]
}

variable "ssh_username" {
  type        = string
  description = "Login user of the source image (ubuntu for Canonical images)."
  default     = "ubuntu"
}

variable "iam_instance_profile" {
  type        = string
  description = "Existing instance profile for the build instance; empty makes Packer create a temporary one allowed to pull from ECR (and to use Session Manager when selected)."
  default     = ""
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the build instance may pull application images from."
  default     = ["arn:aws:ecr:*:*:repository/*"]
}

# Endpoint and communicator overrides exist for the offline AWS path (an EC2 emulator on
# 127.0.0.1 and a local container standing in for the instance); real bakes leave them empty.

variable "ec2_endpoint" {
  type        = string
  description = "Custom EC2 API endpoint (e.g. http://127.0.0.1:5000 for an emulator); empty for AWS."
  default     = ""
}

variable "ssh_host" {
  type        = string
  description = "Address to SSH to instead of the instance's own; empty for real bakes."
  default     = ""
}

variable "ssh_port" {
  type        = number
  description = "SSH port on the build instance (or on the stand-in given by ssh_host)."
  default     = 22
}

variable "ssh_keypair_name" {
  type        = string
  description = "Existing EC2 key pair to launch with; empty makes Packer create a temporary one."
  default     = ""
}

variable "ssh_private_key_file" {
  type        = string
  description = "Private key file matching ssh_keypair_name; empty when Packer creates the key pair."
  default     = ""
}

# ---------------------------------------------------------------- docker source (local twin)

variable "twin_base_image" {
  type        = string
  description = "Local systemd image the twin bake starts from (made by `golden base-image`); never pulled."
  default     = "golden/base:bookworm"
}

variable "twin_run_extra_args" {
  type        = list(string)
  description = "Extra `docker run` arguments for the twin build container, placed before the image (e.g. [\"--network\", \"golden-bake\"])."
  default     = []
}
