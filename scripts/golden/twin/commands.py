"""The local twin's commands: `golden base-image`, `golden twin build|wheelhouse|up|down`,
`golden app-images build`, `golden byo-images build`, `golden chroma-image build` and
`golden local up|down|status` (the stand-ins and the twin, see localstack.py)."""

from __future__ import annotations

from pathlib import Path

import click

from golden.core.output import emit
from golden.twin import appimages, baseimage, byoimages, chromaimage
from golden.twin import build as twin


def register(main: click.Group) -> None:
    for command in (base_image, twin_group, app_images, byo_images, chroma_image,
                    local_group):
        main.add_command(command)


@click.command("base-image")
@click.option(
    "--suite",
    default="bookworm",
    show_default=True,
    help="Distribution suite to debootstrap (bookworm = Debian 12, jammy = Ubuntu 22.04).",
)
@click.option("--mirror", default=None, help="Package mirror URL (default: the suite's own).")
@click.option("--components", default=None, help="Archive components, comma separated.")
@click.option(
    "--security-mirror",
    default=None,
    help="Archive of the SUITE-security suite (default: the suite's own).",
)
@click.option("--name", default=None, help="Image name (default golden/base:SUITE).")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def base_image(suite, mirror, components, security_mirror, name, force, as_json):
    """Build the twin's systemd base image with debootstrap (no registry needed); its apt
    sources list the suite, SUITE-updates and SUITE-security, and it is upgraded from them."""
    spec = baseimage.BaseImageSpec(suite=suite, mirror=mirror, components=components,
                                   security_mirror=security_mirror, name=name)
    emit(baseimage.build(spec, force=force), as_json=as_json, title="base image")


@click.group("twin")
def twin_group():
    """Build and run the local twin (the image in a systemd container)."""


@twin_group.command("build")
@click.option("--role", type=click.Choice(twin.ROLES), default="app", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the build container for debugging.")
@click.option("--json", "as_json", is_flag=True, help="Print the build record as JSON.")
def twin_build(role, keep, as_json):
    """Build golden/twin-ROLE:latest through scripts/provision.sh (the one provisioning
    path): base image, wheelhouse, app images, highstate, in-image tests, clean-up."""
    emit(twin.build(role, keep=keep), as_json=as_json, title=f"twin image ({role})")


@twin_group.command("wheelhouse")
@click.option("--out", default="build/wheelhouse", show_default=True, help="Wheel folder.")
@click.option("--force", is_flag=True, help="Rebuild even when the lock is unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def twin_wheelhouse(out, force, as_json):
    """Build the wheelhouse every bake installs from (no Docker): the wheels of
    scripts/wheelhouse-requirements.txt for this Python and CPU, fetched and checked
    against the lock's hashes, and the golden wheel of this checkout (pinned by its
    sha256). Its Python must be the image's (Ubuntu 22.04 onedir: 3.10; Debian 12: 3.11)."""
    from golden.twin import wheelhouse

    emit(wheelhouse.build(out, force=force), as_json=as_json, title="wheelhouse")


@twin_group.command("up")
@click.option("--role", type=click.Choice(twin.ROLES), default="app", show_default=True)
@click.option("--name", default=None, help="Container name (default golden-twin-ROLE).")
@click.option("--port", default=8080, show_default=True, help="127.0.0.1 port for nginx.")
@click.option("--seed", "seed_dir", default=None, help="NoCloud seed folder (user-data).")
@click.option("--wait", default=90.0, show_default=True, help="Seconds to wait for /healthz.")
@click.option("--image", default=None,
              help="Image to boot (default golden/twin-ROLE:latest), e.g. golden-byo/twin-app.")
@click.option("--json", "as_json", is_flag=True)
def twin_up(role, name, port, seed_dir, wait, image, as_json):
    """Boot a twin instance and wait until /healthz answers 200 (at most --wait seconds;
    it stops at once, printing the journal's last lines, when the boot step fails)."""
    spec = twin.TwinSpec(
        role=role, name=name or f"golden-twin-{role}", port=port, seed_dir=seed_dir, image=image
    )
    emit(twin.up(spec, wait=wait), as_json=as_json, title="twin")


@twin_group.command("down")
@click.option("--name", default="golden-twin-app", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def twin_down(name, as_json):
    """Stop and remove a twin instance."""
    emit(twin.down(name), as_json=as_json, title="twin")


@click.group("byo-images")
def byo_images() -> None:
    """Images of a real FastAPI backend and a real Next.js app (examples/), built from their
    own Dockerfiles, to deploy instead of the sample (docs/app-contract.md)."""


@byo_images.command("build")
@click.option("--base", default=byoimages.DEFAULT_BASE, show_default=True,
              help="Local base image both Dockerfiles start FROM (`golden base-image`).")
@click.option("--out", default=byoimages.DEFAULT_OUT, show_default=True,
              help=f"Folder for {byoimages.ARCHIVE_NAME} and {byoimages.MANIFEST_NAME}.")
@click.option("--work", default=byoimages.DEFAULT_WORK, show_default=True,
              help="Folder for the host builds (wheels, npm ci + next build) and contexts.")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
@click.option("--dry-run", is_flag=True, help="Show what would be built; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def byo_images_build(base, out, work, force, dry_run, as_json):  # fmt: skip
    """Build golden-byo/fastapi-app:dev and golden-byo/nextjs-app:dev and save both into
    OUT/byo-app.tar with OUT/byo-app.json (image ids, keys api and web)."""
    result = byoimages.build(base=base, out=out, work=work, force=force, dry_run=dry_run)
    if as_json or dry_run:
        emit(result, as_json=as_json, title="byo images (dry run)")
        return
    rows = [{"image": info["ref"], "id": info["id"][:19], "size MB": appimages.mb(info["bytes"]),
             "action": info["action"]} for info in result["images"].values()]  # fmt: skip
    emit(result, as_json=False, title="byo images", rows=rows)
    archive = result["archive"]
    click.echo(f"archive {archive['path']} ({appimages.mb(archive['bytes'])} MB); "
               f"manifest {archive['manifest']}; {result['seconds']}s")  # fmt: skip


@byo_images.command("twin")
@click.option("--base", default=byoimages.DEFAULT_BASE, show_default=True,
              help="Local base image (`golden base-image`).")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def byo_images_twin(base, force, as_json):
    """Build the images, then a twin image of the app role running them instead of the
    sample (golden-byo/twin-app:latest): examples/golden-pillar.yaml merged into the
    role's pillar, provisioned by scripts/provision.sh. Boot it with
    `golden twin up --image golden-byo/twin-app:latest --seed .state/local/seed-app`."""
    result = byoimages.twin_image(base=base, force=force)
    if as_json:
        emit(result, as_json=True, title="byo twin image")
        return
    built = result["twin"]
    images = ", ".join(f"{i['ref']} ({i['action']})" for i in result["images"]["images"].values())
    state = f"built in {built['seconds']}s" if built["built"] else "up to date"
    click.echo(f"{built['image']} {built['id'][:19]} ({state}); {images}")


@click.group("app-images")
def app_images() -> None:
    """The sample application's container images for the local twin."""


@app_images.command("build")
@click.option(
    "--base",
    default=appimages.DEFAULT_BASE,
    show_default=True,
    help="Local base image to build from (made by `golden base-image`).",
)
@click.option(
    "--out",
    default=appimages.DEFAULT_OUT,
    show_default=True,
    help=f"Folder for {appimages.ARCHIVE_NAME} and {appimages.MANIFEST_NAME}.",
)
@click.option(
    "--wheelhouse",
    default=appimages.DEFAULT_WHEELHOUSE,
    show_default=True,
    help="Folder for the host-built wheels (one subfolder per image).",
)
@click.option(
    "--source",
    type=click.Path(path_type=Path),
    default=appimages.DEFAULT_SOURCE,
    show_default=True,
    help="The sample app's source folder.",
)
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
@click.option("--dry-run", is_flag=True, help="Show what would be built; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def app_images_build(base, out, wheelhouse, source, force, dry_run, as_json):
    """Build golden-sample/backend:dev and golden-sample/frontend:dev offline from the base
    image, and save both into OUT/sample-app.tar with OUT/sample-app.json (image ids)."""
    result = appimages.build(
        base=base, out=out, wheelhouse=wheelhouse, source=source, force=force, dry_run=dry_run
    )
    if as_json or dry_run:
        emit(result, as_json=as_json, title="app images (dry run)")
        return
    rows = [
        {
            "image": info["ref"],
            "id": info["id"][:19],
            "size MB": appimages.mb(info["bytes"]),
            "own layer MB": appimages.mb(info["own_bytes"]),
            "action": info["action"],
            "seconds": info["seconds"],
        }
        for info in result["images"].values()
    ]
    emit(result, as_json=False, title="app images", rows=rows)
    archive = result["archive"]
    click.echo(
        f"archive {archive['path']} ({appimages.mb(archive['bytes'])} MB, "
        f"{'written' if archive['written'] else 'unchanged'}); manifest {result['manifest']}; "
        f"{result['seconds']}s"
    )


@click.group("chroma-image")
def chroma_image() -> None:
    """The Chroma server's container image for the local twin (role chroma)."""


@chroma_image.command("build")
@click.option(
    "--base",
    default=chromaimage.DEFAULT_BASE,
    show_default=True,
    help="Local base image to build from (made by `golden base-image`).",
)
@click.option(
    "--out",
    default=chromaimage.DEFAULT_OUT,
    show_default=True,
    help=f"Folder for {chromaimage.ARCHIVE_NAME} and {chromaimage.MANIFEST_NAME}.",
)
@click.option(
    "--wheelhouse",
    default=chromaimage.DEFAULT_WHEELHOUSE,
    show_default=True,
    help="Folder for the host-built chromadb wheels.",
)
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
@click.option("--dry-run", is_flag=True, help="Show what would be built; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def chroma_image_build(base, out, wheelhouse, force, dry_run, as_json):
    """Build golden-sample/chroma:dev offline from the base image (chromadb from
    scripts/chroma-requirements.txt) and save it into OUT/chroma.tar with
    OUT/chroma.json (image id)."""
    result = chromaimage.build(
        base=base, out=out, wheelhouse=wheelhouse, force=force, dry_run=dry_run
    )
    if as_json or dry_run:
        emit(result, as_json=as_json, title="chroma image (dry run)")
        return
    image = result["image"]
    rows = [
        {
            "image": image["ref"],
            "id": image["id"][:19],
            "chromadb": result["chromadb"],
            "size MB": appimages.mb(image["bytes"]),
            "own layer MB": appimages.mb(image["own_bytes"]),
            "action": image["action"],
            "seconds": image["seconds"],
        }
    ]
    emit(result, as_json=False, title="chroma image", rows=rows)
    archive = result["archive"]
    click.echo(
        f"archive {archive['path']} ({appimages.mb(archive['bytes'])} MB, "
        f"{'written' if archive['written'] else 'unchanged'}); manifest {result['manifest']}; "
        f"{result['seconds']}s"
    )


@click.group("local")
def local_group():
    """The whole platform on this machine: stand-ins for RDS, ElastiCache, Chroma, S3/SSM
    and the twin booted from launch-template user data."""


@local_group.command("up")
@click.option("--port", default=8080, show_default=True, help="127.0.0.1 port of the twin's nginx.")
@click.option("--no-build", is_flag=True, help="Use the twin image as it is.")
@click.option("--json", "as_json", is_flag=True)
def local_up(port, no_build, as_json):
    """Build what is missing, start the stand-ins, seed S3/SSM, boot the twin, wait for
    health, print endpoints and dependency status. Idempotent: a second run reuses all."""
    from golden.twin import localstack

    result = localstack.up(port, build=not no_build)
    deps = localstack.dependency_status(port)
    rows = localstack.status(port)
    if as_json:
        emit({**result, "services": rows, "dependencies": deps}, as_json=True)
        return
    emit(rows, as_json=False, title="local stack (127.0.0.1 only)", rows=rows)
    dep_rows = [{"dependency": k, **v} for k, v in (deps.get("dependencies") or deps).items()
                if isinstance(v, dict)]
    if dep_rows:
        emit(dep_rows, as_json=False, title="dependencies seen by the twin", rows=dep_rows)
    click.echo(f"twin: {result['url']}  (ready in {result['seconds']}s)")
    click.echo("stop: make local-down   (data kept; `golden local down --purge` removes it)")


@local_group.command("down")
@click.option("--purge", is_flag=True, help="Also delete the stand-ins' data (.state/local).")
@click.option("--json", "as_json", is_flag=True)
def local_down(purge, as_json):
    """Stop and remove the twin and every stand-in container; keep data unless --purge."""
    from golden.twin import localstack

    emit(localstack.down(purge=purge), as_json=as_json, title="local stack")


@local_group.command("status")
@click.option("--port", default=8080, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def local_status(port, as_json):
    """What runs, where."""
    from golden.twin import localstack

    rows = localstack.status(port)
    emit(rows, as_json=as_json, title="local stack", rows=rows)
