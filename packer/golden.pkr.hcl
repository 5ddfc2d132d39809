# The golden bake: one build, two sources running the very same provisioners.
#   amazon-ebs.ubuntu  Ubuntu 22.04 AMI for EC2 Auto Scaling
#   docker.twin        systemd container image for the local twin
# Run it through `golden bake` (make ami / make image): it assembles the staging folder,
# fills the provenance variables, and tags the AMI golden:tested=true only after the
# in-bake tests passed. Written for Packer 1.9+ with the plugins below (`packer init .`).

packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "~> 1.3"
    }
    docker = {
      source  = "github.com/hashicorp/docker"
      version = "~> 1.1"
    }
  }
}

locals {
  # Evaluated once per run, so every source and region shares one stamp.
  build_time = var.build_time != "" ? var.build_time : timestamp()
  stamp      = formatdate("YYYYMMDDhhmmss", local.build_time)
  ami_name   = "golden-${var.role}-${var.version}-${local.stamp}"

  source_ami_name = var.source_ami_name_pattern != "" ? var.source_ami_name_pattern : "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-${var.arch}-server-*"
  aws_arch        = var.arch == "arm64" ? "arm64" : "x86_64"
  instance_type   = var.instance_type != "" ? var.instance_type : (var.arch == "arm64" ? "t4g.medium" : "t3.medium")

  # Tag keys are read by the release engine; golden:tested is added by `golden bake`
  # only after the in-bake tests passed, never here.
  provenance = {
    "golden:role"                = var.role
    "golden:version"             = var.version
    "golden:git-revision"        = var.git_revision
    "golden:state-tree-revision" = var.state_tree_revision
    "golden:app-images"          = var.app_images
    "golden:build-time"          = local.build_time
    "golden:packer-version"      = var.packer_version
  }
  ami_tags = merge(local.provenance, {
    "Name"                   = local.ami_name
    "golden:source-ami"      = "{{ .SourceAMI }}"
    "golden:source-ami-name" = "{{ .SourceAMIName }}"
  })

  # The flag set that boots systemd as PID 1 on this kind of host (no --privileged:
  # the bounding set lacks CAP_SYS_RESOURCE); see shared notes, Docker engine.
  twin_run_flags = [
    "-d",
    "--cap-add", "ALL",
    "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
    "--device-cgroup-rule", "a *:* rwm",
    "--cgroupns=host",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run",
    "--tmpfs", "/run/lock",
    "--stop-signal", "SIGRTMIN+3",
    "--device", "/dev/fuse",
  ]
  # "false" until `golden bake` marks the image: docker labels are inherited, and an image
  # baked from a tested base (--from-base) must not claim its tests passed before they ran.
  twin_labels = merge(local.provenance, {
    "golden:source-image" = var.twin_base_image
    "golden:tested"       = "false"
  })

  remote_src = "/var/tmp/golden"
}

source "amazon-ebs" "ubuntu" {
  region                = var.aws_region
  custom_endpoint_ec2   = var.ec2_endpoint
  instance_type         = local.instance_type
  subnet_id             = var.subnet_id
  ami_name              = local.ami_name
  ami_description       = "golden ${var.role} ${var.version} (git ${var.git_revision})"
  ami_regions           = var.ami_regions
  region_kms_key_ids    = var.region_kms_key_ids
  ena_support           = true
  force_deregister      = false
  force_delete_snapshot = false

  source_ami_filter {
    filters = merge({
      name                = local.source_ami_name
      architecture        = local.aws_arch
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }, var.source_ami_filters)
    owners      = var.source_ami_owners
    most_recent = true
  }

  # Encrypted at launch and on the AMI (and its copies); there is no switch to turn it off.
  launch_block_device_mappings {
    device_name           = "/dev/sda1"
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    iops                  = var.root_volume_iops
    throughput            = var.root_volume_throughput
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }
  encrypt_boot = true
  kms_key_id   = var.kms_key_id

  # IMDSv2 only, while baking and for every instance launched from the AMI.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"

  communicator                          = "ssh"
  ssh_username                          = var.ssh_username
  ssh_interface                         = var.ssh_interface
  ssh_host                              = var.ssh_host
  ssh_port                              = var.ssh_port
  ssh_keypair_name                      = var.ssh_keypair_name
  ssh_private_key_file                  = var.ssh_private_key_file
  ssh_timeout                           = "10m"
  ssh_clear_authorized_keys             = true
  temporary_security_group_source_cidrs = var.ssh_source_cidrs

  iam_instance_profile = var.iam_instance_profile

  # A profile that lives only as long as the build: pull application images from ECR,
  # plus what the SSM agent needs when the communicator goes through Session Manager.
  dynamic "temporary_iam_instance_profile_policy_document" {
    for_each = var.iam_instance_profile == "" ? [1] : []
    content {
      Version = "2012-10-17"
      Statement {
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = ["*"]
      }
      Statement {
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
        ]
        Resource = var.ecr_repository_arns
      }
      dynamic "Statement" {
        for_each = var.ssh_interface == "session_manager" ? [1] : []
        content {
          Effect = "Allow"
          Action = [
            "ssm:UpdateInstanceInformation",
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
          ]
          Resource = ["*"]
        }
      }
    }
  }

  run_tags = {
    "Name" = "golden-bake-${var.role}"
  }
  run_volume_tags = {
    "Name" = "golden-bake-${var.role}"
  }
  tags          = local.ami_tags
  snapshot_tags = local.ami_tags
}

source "docker" "twin" {
  image       = var.twin_base_image
  pull        = false
  commit      = true
  run_command = concat(local.twin_run_flags, var.twin_run_extra_args, ["{{.Image}}", "/sbin/init"])
  # No STOPSIGNAL here: `docker commit --change` rejects it (Docker 20.10); the committed
  # image keeps the container's --stop-signal SIGRTMIN+3 instead.
  changes = concat(
    [
      "CMD [\"/sbin/init\"]",
      "ENV container=docker",
    ],
    [for key, value in local.twin_labels : "LABEL \"${key}\"=\"${value}\""],
  )
}

build {
  name    = "golden"
  sources = ["source.amazon-ebs.ubuntu", "source.docker.twin"]

  # /var/tmp, not /tmp: systemd empties /tmp right after boot. cloud-init may still be
  # installing packages on a fresh instance; wait (bounded) so apt is free.
  provisioner "shell" {
    remote_folder = "/var/tmp"
    inline = [
      "if command -v cloud-init >/dev/null; then timeout 600 cloud-init status --wait >/dev/null || true; fi",
      "mkdir -p ${local.remote_src}",
      "chmod 0700 ${local.remote_src}",
    ]
  }

  provisioner "file" {
    source      = "${var.staging_dir}/"
    destination = local.remote_src
  }

  # The one provisioning path: Salt install, highstate with the role grain, in-image
  # tests, cleanup. Its last line is the test summary `golden bake` reads. The platform
  # (which pillar differences apply) follows from the source unless provision_platform
  # says otherwise, so the text stays identical for both sources.
  provisioner "shell" {
    remote_folder = "/var/tmp"
    inline = [
      "if [ \"$(id -u)\" -eq 0 ]; then as_root=''; else as_root='sudo -E'; fi",
      "$as_root bash ${local.remote_src}/provision.sh --role ${var.role} --platform ${var.provision_platform != "" ? var.provision_platform : (source.type == "docker" ? "twin" : "aws")} --src ${local.remote_src} --salt-install ${var.salt_install}",
    ]
  }

  # The package set the image carries (name, version, origin; pending updates), written by
  # provision.sh; `golden bake` puts it in the build record.
  provisioner "file" {
    direction   = "download"
    source      = "/etc/golden/packages.json"
    destination = var.packages_path
  }

  # The image's SBOM (CycloneDX 1.5), written by provision.sh; `golden bake` keeps it
  # beside the build record, scans it (AWS) and uploads it with the AMI.
  provisioner "file" {
    direction   = "download"
    source      = "/etc/golden/sbom.cdx.json"
    destination = var.sbom_path
  }

  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
    custom_data = {
      role                = var.role
      version             = var.version
      git_revision        = var.git_revision
      state_tree_revision = var.state_tree_revision
      app_images          = var.app_images
      build_time          = local.build_time
      packer_version      = var.packer_version
      ami_name            = local.ami_name
    }
  }
}
