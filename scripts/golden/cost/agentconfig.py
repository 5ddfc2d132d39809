"""The CloudWatch agent config an image of a role ships, rendered from this checkout's
state tree (thin adapter over `salt-call --local state.show_sls`; nothing is applied).

The cloudwatch formula writes the agent's main config; a role's own formula may append a
config of its own (the chroma role ships its proxy and server logs that way). Both are
`file.serialize` states writing JSON into the agent's etc folder; `documents()` picks
their datasets out of the rendered states (pure)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path, PurePosixPath

import yaml

from golden.core import shell
from golden.core.errors import GoldenError, OperationFailed
from golden.core.provenance import REPO

# Grains of the AWS image (Ubuntu 22.04 on amd64): what the agent config renders for.
IMAGE_GRAINS = {"platform": "aws", "os": "Ubuntu", "os_family": "Debian", "osrelease": "22.04",
                "oscodename": "jammy", "osarch": "amd64"}  # fmt: skip
RENDER_TIMEOUT = 120


def agent_folder(repo: Path = REPO) -> str:
    """The agent's etc folder: where the cloudwatch formula's defaults put its config."""
    defaults = yaml.safe_load((repo / "salt" / "cloudwatch" / "defaults.yaml").read_text())
    return str(PurePosixPath(defaults["defaults"]["config_path"]).parent)


def documents(rendered: dict, folder: str) -> list[dict]:
    """The datasets of every file.serialize state in RENDERED (state.show_sls's "local"
    answer) that writes into FOLDER, in state order. Raises OperationFailed when salt
    answered with errors instead of states."""
    if not isinstance(rendered, dict):
        raise OperationFailed(f"the state tree did not render: {rendered}")
    found = []
    for state in sorted(rendered.values(), key=lambda s: _order(s)):
        body = state.get("file") if isinstance(state, dict) else None
        if not isinstance(body, list) or "serialize" not in body:
            continue
        args = {k: v for item in body if isinstance(item, dict) for k, v in item.items()}
        name = str(args.get("name", ""))
        if str(PurePosixPath(name).parent) == folder and isinstance(args.get("dataset"), dict):
            found.append(args["dataset"])
    return found


def _order(state) -> int:
    body = next((v for k, v in state.items() if not k.startswith("__")), []) if isinstance(
        state, dict) else []  # fmt: skip
    for item in body if isinstance(body, list) else ():
        if isinstance(item, dict) and "order" in item:
            return int(item["order"])
    return 0


def _salt_call() -> str:
    beside = Path(sys.executable).parent / "salt-call"
    if beside.exists():
        return str(beside)
    return shell.which_or_fail("salt-call", "golden's virtualenv installs it (make setup)")


def render(role: str, repo: Path = REPO) -> list[dict]:
    """The agent config documents of ROLE's image, rendered from REPO's state tree.
    Raises GoldenError when there is no state tree or Salt cannot render it."""
    if not (repo / "salt" / "cloudwatch").is_dir():
        raise GoldenError(f"{repo / 'salt'}: no state tree to read the CloudWatch agent "
                          f"config from (golden cost runs from a checkout)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="golden-cost-") as tmp:
        conf = Path(tmp) / "conf"
        conf.mkdir()
        (conf / "minion").write_text(yaml.safe_dump({
            "file_client": "local",
            "file_roots": {"base": [str(repo / "salt")]},
            "pillar_roots": {"base": [str(repo / "pillar")]},
            "cachedir": f"{tmp}/cache", "extension_modules": f"{tmp}/extmods",
            "pki_dir": f"{tmp}/pki", "sock_dir": f"{tmp}/sock",
            "log_file": f"{tmp}/minion.log", "log_level_logfile": "quiet",
            "grains": {"role": role, **IMAGE_GRAINS}, "grains_cache": False,
        }))  # fmt: skip
        base = [_salt_call(), "--local", "-c", str(conf), "--out=json", "--retcode-passthrough"]
        # The app formula renders through salt/_modules (golden_app): sync them first.
        shell.run(base + ["saltutil.sync_modules", "saltenv=base"], timeout=RENDER_TIMEOUT,
                  what="salt-call saltutil.sync_modules (golden's execution modules)")
        proc = shell.run(
            base + ["state.show_sls", f"cloudwatch,{role}"],
            timeout=RENDER_TIMEOUT,
            what=f"salt-call state.show_sls cloudwatch,{role} (the agent config)",
        )  # fmt: skip
    try:
        rendered = json.loads(proc.stdout)["local"]
    except (ValueError, KeyError, TypeError) as exc:
        raise OperationFailed(f"salt-call printed no states for role {role}: {exc}") from None
    return documents(rendered, agent_folder(repo))
