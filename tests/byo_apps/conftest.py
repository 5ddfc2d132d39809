"""The examples (examples/fastapi-app, examples/nextjs-app) deployed by golden: their
images built from their own Dockerfiles, a twin of the app role provisioned with
examples/golden-pillar.yaml, booted on its own docker network and published on
127.0.0.1 only. Images and the twin image are reused between runs while their inputs are
unchanged (golden.twin.byoimages). Every name this suite creates starts with golden-byo."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def byo_build(local_standins):
    """The images and the twin image; after the stand-ins, whose CA the image trusts for
    PostgreSQL (verify-full), as the sample's twin does."""
    from golden.twin import byoimages

    return byoimages.twin_image()


@pytest.fixture(scope="session")
def byo_twin(byo_build, local_standins):
    """A booted twin of the examples. Its boot step reads the instance settings and SSM
    secrets the local stand-ins provide (the seed folder, as tests/image boots the
    sample's twin): without them golden-boot fails and app.service, which requires it,
    never starts."""
    from golden.twin import build as twin
    from golden.twin import byoimages

    spec = twin.TwinSpec(role="app", name=f"golden-byo-twin-{uuid.uuid4().hex[:6]}",
                         port=int(os.environ.get("GOLDEN_BYO_PORT", "18190")),
                         image=byoimages.TWIN_IMAGE, seed_dir=str(local_standins))  # fmt: skip
    try:
        result = twin.up(spec, wait=180)
    except Exception:
        twin.down(spec.name)  # a twin that never became healthy is not left behind
        raise
    yield result
    twin.down(spec.name)
