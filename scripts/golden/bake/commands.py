"""`golden bake` and `golden local ami` (the AWS bake against the emulator, registered in
the `local` group the twin job makes)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from autoscaling.supplychain import SEVERITIES
from golden.bake import build, sboms, standin
from golden.bake.record import human_result
from golden.bake.request import (
    DEFAULT_AWS_CA_BUNDLE,
    DEFAULT_LOCAL_CA_BUNDLE,
    LOCAL_REPOSITORY,
    RDS_CA_BUNDLE_URL,
    ROLES,
    TARGETS,
    BakeRequest,
    parse_var_overrides,
)
from golden.core import provenance, sbom
from golden.core.errors import ConfigError


def register(main: click.Group) -> None:
    main.add_command(bake_command)
    main.add_command(sbom_command)
    # `golden local` is the twin job's group; the emulated AWS bake is one of its commands.
    main.commands["local"].add_command(ami_command)


@click.command("bake")
@click.option("--role", required=True, type=click.Choice(ROLES), help="Role to bake.")
@click.option(
    "--target",
    required=True,
    type=click.Choice(sorted(TARGETS)),
    help="aws: an encrypted, IMDSv2-only AMI; local: the twin's docker image.",
)
@click.option("--var", "pairs", multiple=True, metavar="K=V", help="Packer variable.")
@click.option(
    "--var-file", "var_files", multiple=True, type=click.Path(), help="Packer var file."
)
@click.option(
    "--salt-install",
    type=click.Choice(["wheelhouse", "onedir"]),
    help="How Salt is installed in the image (default: wheelhouse locally, onedir on AWS).",
)
@click.option(
    "--wheelhouse", type=click.Path(), help="Wheel folder (default build/wheelhouse)."
)
@click.option(
    "--images", type=click.Path(), help="App image archives to upload (default build/images)."
)
@click.option(
    "--allow-packer-compat",
    is_flag=True,
    help="Allow an AWS bake with Packer < 1.7 (no IMDSv2 enforcement by Packer).",
)
@click.option(
    "--local-repository",
    default=LOCAL_REPOSITORY,
    show_default=True,
    help="Where a tested local image is tagged (VERSION and latest).",
)
@click.option(
    "--ca-bundle",
    type=click.Path(),
    help="Database CA bundle (PEM certificates) installed as "
    "/etc/golden/certs/rds-ca-bundle.pem. Required on AWS (default "
    f"{DEFAULT_AWS_CA_BUNDLE}; AWS publishes it at {RDS_CA_BUNDLE_URL}); "
    "locally the "
    f"local stack's CA ({DEFAULT_LOCAL_CA_BUNDLE}) when it exists.",
)
@click.option(
    "--from-base",
    is_flag=True,
    help="Start from the newest tested base image (golden:role=base, golden:tested=true; "
    "`golden bake --role base` makes one) instead of the OS image. The role's full "
    "highstate still runs on top.",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    default=None,
    help="AWS: the lowest severity of an Amazon Inspector finding that fails the bake "
    "(default: vulnerabilities.fail_on in security/supply-chain.yaml, shipped: critical).",
)
@click.option(
    "--skip-scan",
    is_flag=True,
    help="AWS: publish without the vulnerability scan (the record says no scan ran).",
)
@click.option(
    "--supply-chain",
    type=click.Path(dir_okay=False),
    default=None,
    help="The reviewed supply-chain settings (default security/supply-chain.yaml): "
    "failing severity, accepted exceptions, AMI deprecation.",
)
@click.option(
    "--artifacts-bucket",
    default=None,
    help="AWS: S3 bucket the SBOM is uploaded to (key sboms/ROLE/AMI-NAME.cdx.json, named "
    "by the AMI's golden:sbom tag); default $GOLDEN_ARTIFACTS_BUCKET, else not uploaded.",
)
@click.option("--dry-run", is_flag=True, help="Check inputs and validate; build nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the build record as JSON.")
def bake_command(
    role, target, pairs, var_files, salt_install, wheelhouse, images,
    allow_packer_compat, local_repository, ca_bundle, from_base, fail_on, skip_scan,
    supply_chain, artifacts_bucket, dry_run, as_json,
):  # fmt: skip
    """Bake a role's image with Packer (validate, build, in-bake tests) and record it.

    The AMI (or docker image) is marked golden:tested=true only when the in-bake
    tests passed. Progress goes to stderr; the result (or --json record) to stdout.
    Ctrl-C stops Packer cleanly (it removes its instance or container).
    """
    request = BakeRequest(
        role=role,
        target=target,
        variables=parse_var_overrides(pairs),
        var_files=[Path(f) for f in var_files],
        salt_install=salt_install,
        wheelhouse=Path(wheelhouse) if wheelhouse else None,
        images=Path(images) if images else None,
        allow_packer_compat=allow_packer_compat,
        dry_run=dry_run,
        local_repository=local_repository,
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        from_base=from_base,
        fail_on=fail_on,
        skip_scan=skip_scan,
        supply_chain=Path(supply_chain) if supply_chain else None,
        artifacts_bucket=artifacts_bucket,
    )
    record = build.bake(request, repo=provenance.repo_root())
    click.echo(json.dumps(record, indent=2, sort_keys=True) if as_json else human_result(record))


@click.command("ami")
@click.option("--role", required=True, type=click.Choice(standin.ROLES), help="Role to bake.")
@click.option(
    "--endpoint",
    default=None,
    help="EC2 endpoint of the AWS emulator (loopback only). Default: the local "
    "environment's (autoscaling/environments/local.yaml), http://127.0.0.1:5050.",
)
@click.option(
    "--image",
    default=standin.STANDIN_IMAGE,
    show_default=True,
    help="Local systemd image the stand-in build instance runs (golden base-image).",
)
@click.option(
    "--name-prefix",
    default=standin.NAME_PREFIX,
    show_default=True,
    help="Prefix of the stand-in container, its network and the EC2 key pair (a random "
    "suffix follows).",
)
@click.option(
    "--ssh-port",
    type=int,
    default=None,
    help="127.0.0.1 port for the stand-in's sshd (default: a free one Docker picks).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the endpoint, the emulator and the inputs, render the var file and run "
    "packer validate; start nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ami_command(role, endpoint, image, name_prefix, ssh_port, dry_run, as_json):
    """Bake ROLE's AMI with Packer's amazon-ebs source against the AWS emulator.

    A local systemd container stands in for the build instance (Packer SSHes to it on
    127.0.0.1), so the same provisioners and in-image tests run; the emulator then
    holds the encrypted, provenance-tagged AMI, marked golden:tested=true when the
    tests passed. Needs `make emulator` running. The container, its network, the key
    pair and the throwaway key are removed afterwards, also on failure or Ctrl-C.
    """
    default, region = standin.default_endpoint()
    spec = standin.StandinSpec(
        role=role,
        endpoint=endpoint or default,
        region=region,
        image=image,
        name_prefix=name_prefix,
        ssh_port=ssh_port,
        dry_run=dry_run,
    )
    result = standin.run_bake(spec, repo=provenance.repo_root())
    click.echo(
        json.dumps(result, indent=2, sort_keys=True, default=str)
        if as_json
        else standin.human_result(result)
    )


@click.command("sbom")
@click.argument("target")
@click.option("--env", default=None, help="Environment (for the region and endpoint of an AMI).")
@click.option("--region", default=None, help="AWS region of the AMI (overrides --env's).")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Save the document here instead of printing it.",
)  # fmt: skip
@click.option("--summary", is_flag=True, help="Print the component counts, not the document.")
def sbom_command(target, env, region, output, summary):
    """Print or save the CycloneDX SBOM of TARGET: an AMI id (the S3 object its
    golden:sbom tag names) or a local image (its /etc/golden/sbom.cdx.json)."""
    if sboms.is_ami(target):
        region, endpoint = _region_endpoint(env, region)
        doc, where = sboms.from_ami(target, region=region, endpoint=endpoint)
    else:
        doc, where = sboms.from_image(target)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"saved {where} to {output} ({len(text.encode())} bytes)", err=True)
    if summary:
        click.echo(json.dumps({"from": where, **sbom.counts(doc)}, sort_keys=True))
    elif not output:
        click.echo(text, nl=False)


def _region_endpoint(env: str | None, region: str | None) -> tuple[str, str | None]:
    import os

    from autoscaling import settings

    if env:
        environment = settings.load(env)
        return region or environment.region, environment.endpoint_url
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError("--env/--region: give an environment or a region (or set AWS_REGION)")
    return region, None
