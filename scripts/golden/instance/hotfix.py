"""The instance side of hotfixes and drift checks (`golden instance hotfix|drift`), run as
root on an instance by SSM Run Command, or in the local twin by `docker exec`.

Trees: the first hotfix moves the baked /srv/salt, /srv/pillar and /srv/schemas into
/srv/golden-hotfix/trees/baked-TIME/ and makes them links through
/srv/golden-hotfix/current, a link to one tree (an image baked before schemas/ existed
has none: its link points at nothing until a tree with one is current). Swapping a tree
is one rename(2) of that link, so Salt always sees one whole state tree; `previous` keeps
the tree before, for --revert (which swaps the two). Older trees are pruned.

A hotfix: fetch the bundle (a path, or s3:// with the instance's role; endpoint from
AWS_ENDPOINT_URL* or /etc/golden/instance.json aws.endpoint_url), check its sha256 and
every file (golden.hotfix_bundle), render the new tree in a Salt cache of its own (a tree
that does not render, e.g. an invalid pillar, is refused before anything changes), then
swap and run `salt-call --local state.highstate --retcode-passthrough --out=json`. With
--test the highstate runs with test=True against the unpacked bundle and nothing is
swapped. A summary (golden.hotfix_result) goes to stdout and to /etc/golden/hotfix.json
(apply, revert) or /etc/golden/drift.json (test runs and drift checks); Salt's full
output to /var/log/golden-hotfix/. One run at a time (a lock under /run/golden).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from golden.core import awsclient
from golden.core.errors import ConfigError, OperationFailed
from golden.core.shell import eprint
from golden.hotfix import bundle as hotfix_bundle
from golden.hotfix import results as hotfix_result
from golden.instance import serving

SCHEMA = 1
KEEP_LOGS = 20


@dataclass(frozen=True)
class Layout:
    """Where things are on an instance; tests point it at a temporary directory."""

    srv: Path = Path("/srv")
    store: Path = Path("/srv/golden-hotfix")
    etc: Path = Path("/etc/golden")
    work: Path = Path("/var/tmp/golden-hotfix")
    logs: Path = Path("/var/log/golden-hotfix")
    lock: Path = Path("/run/golden/hotfix.lock")
    salt_call: str = "/opt/salt/bin/salt-call"
    salt_config_dir: str | None = None
    salt_cachedir: Path = Path("/var/cache/salt/minion")
    extra_env: dict = field(default_factory=dict)
    # Drift waits (bounded) for systemd to have no job queued: a unit still starting
    # (app.service in its `compose up --wait`) is not drift. None: no systemd (tests).
    systemctl: str | None = "systemctl"
    settle_seconds: float = 180.0
    # nginx's JSON access log: requests it answered 502/503/504 while a highstate ran
    # mean a change took the app down (flushed every 2 s: nginx.conf.j2).
    nginx_access_log: Path = Path("/var/log/nginx/access.log")
    log_flush_seconds: float = 3.0

    @property
    def trees(self) -> Path:
        return self.store / "trees"

    @property
    def current(self) -> Path:
        return self.store / "current"

    @property
    def previous(self) -> Path:
        return self.store / "previous"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


# -- files and links -------------------------------------------------------------------------
def write_json(path: Path, data: dict, mode: int = 0o644) -> None:
    """Atomically: a reader sees the old record or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _point(link: Path, target: str) -> None:
    """Make ``link`` a symlink to ``target`` in one rename(2)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _target(link: Path) -> Path | None:
    if not link.is_symlink():
        return None
    return (link.parent / os.readlink(link)).resolve()


def describe_tree(path: Path | None) -> dict | None:
    if path is None or not path.is_dir():
        return None
    info = {"name": path.name}
    for name in ("origin.json", hotfix_bundle.MANIFEST):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((path / name).read_text())
            info.update({k: data[k] for k in ("bundle_sha256", "source", "commit") if k in data})
    return info


def _image_state_revision(layout: Layout) -> str:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((layout.etc / "image.json").read_text()).get(
            "state_tree_revision", "unknown"
        )
    return "unknown"


def ensure_store(layout: Layout) -> None:
    """Move the baked trees under the store once; repair a conversion cut short."""
    layout.trees.mkdir(parents=True, exist_ok=True)
    links = [layout.srv / tree for tree in hotfix_bundle.TREES]
    if all(link.is_symlink() for link in links) and _target(layout.current):
        return
    current = _target(layout.current)
    if current is None:
        required = [layout.srv / tree for tree in hotfix_bundle.REQUIRED_TREES]
        if not all(link.is_dir() and not link.is_symlink() for link in required):
            raise OperationFailed(
                f"{layout.srv}: expected the baked trees salt/ and pillar/ (directories) or "
                f"links into {layout.store}; found neither: repair by hand"
            )
        baked = layout.trees / f"baked-{_stamp()}"
        baked.mkdir()
        write_json(
            baked / "origin.json",
            {"bundle_sha256": None, "source": "baked", "commit": _image_state_revision(layout)},
        )
        _point(layout.current, f"trees/{baked.name}")
        current = baked
    rel = os.path.relpath(layout.current, layout.srv)
    for link in links:
        if link.is_symlink():
            continue
        if link.is_dir():
            dest = current / link.name
            # While the baked directory exists it is the truth: a copy left by an
            # interrupted conversion is redone.
            shutil.rmtree(dest, ignore_errors=True)
            try:
                os.rename(link, dest)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                # overlayfs (the twin) cannot rename a directory of a lower layer.
                shutil.copytree(link, dest, symlinks=True)
                shutil.rmtree(link)
        _point(link, f"{rel}/{link.name}")


def _prune(layout: Layout) -> list[str]:
    keep = {_target(layout.current), _target(layout.previous)}
    removed = []
    for tree in layout.trees.iterdir():
        if tree.resolve() not in keep and not tree.name.startswith(".unpack-"):
            shutil.rmtree(tree, ignore_errors=True)
            removed.append(tree.name)
    return removed


@contextlib.contextmanager
def _locked(layout: Layout):
    layout.lock.parent.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OperationFailed(
                f"another hotfix or drift check is running on this instance ({layout.lock})"
            ) from None
        yield


# -- Salt ------------------------------------------------------------------------------------
def _salt(
    layout: Layout,
    args: list[str],
    *,
    roots: Path | None = None,
    cachedir: Path | None = None,
    timeout: float,
) -> tuple[int, str, str]:
    argv = [layout.salt_call]
    if layout.salt_config_dir:
        argv += ["-c", layout.salt_config_dir]
    argv += ["--local", "--out=json", "--retcode-passthrough"]
    if roots is not None:
        argv += ["--file-root", str(roots / "salt"), "--pillar-root", str(roots / "pillar")]
    if cachedir is not None:
        argv += ["--cachedir", str(cachedir)]
    env = {**os.environ, **layout.extra_env}
    try:
        proc = subprocess.run(argv + args, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"salt-call {args[0]} did not finish in {timeout:.0f}s") from None
    except FileNotFoundError:
        raise OperationFailed(f"{layout.salt_call}: not found (is Salt installed?)") from None
    return proc.returncode, proc.stdout, proc.stderr


def _sync(layout: Layout, *, roots=None, cachedir=None, timeout: float) -> None:
    # top.sls calls golden_pillar (salt/_modules) while it renders: sync before any render.
    # A tree without custom modules (salt/_*) has nothing to sync.
    tree = (roots or layout.srv) / "salt"
    if not any(p.is_dir() and p.name.startswith("_") for p in tree.iterdir()):
        return
    rc, out, err = _salt(
        layout,
        ["saltutil.sync_all", "saltenv=base"],
        roots=roots,
        cachedir=cachedir,
        timeout=timeout,
    )
    if rc != 0:
        raise OperationFailed(f"saltutil.sync_all failed (exit {rc}): {(err or out)[-800:]}")


def _validate_render(layout: Layout, roots: Path, cachedir: Path, timeout: float) -> None:
    """Render the unpacked tree (top file, pillar, every state) without applying it."""
    _sync(layout, roots=roots, cachedir=cachedir, timeout=timeout)
    rc, out, err = _salt(
        layout, ["state.show_lowstate"], roots=roots, cachedir=cachedir, timeout=timeout
    )
    result = hotfix_result.parse_output(out)
    if rc != 0 or not isinstance(result, list) or any(isinstance(r, str) for r in result):
        errors = [r for r in result if isinstance(r, str)] if isinstance(result, list) else []
        detail = "; ".join(errors[:5]) or (err or out).strip()[-800:]
        raise ConfigError(f"the bundle's state tree does not render, nothing was changed: {detail}")


def _highstate(
    layout: Layout, *, test: bool, roots=None, cachedir=None, timeout: float
) -> tuple[dict, str]:
    args = ["state.highstate"] + (["test=True"] if test else [])
    rc, out, err = _salt(layout, args, roots=roots, cachedir=cachedir, timeout=timeout)
    result = hotfix_result.parse_output(out)
    summary = hotfix_result.summarise(result, test=test, retcode=rc, raw=out + err)
    return summary, out


def _clear_fileserver_cache(layout: Layout) -> None:
    # Salt caches file lists and file hashes keyed by path and mtime; after a swap the
    # same paths hold other files, so those caches must go.
    for name in ("file_lists", "roots"):
        shutil.rmtree(layout.salt_cachedir / name, ignore_errors=True)


def _keep_log(layout: Layout, mode: str, output: str) -> str:
    layout.logs.mkdir(parents=True, exist_ok=True)
    path = layout.logs / f"{_stamp()}-{mode}.json"
    path.write_text(output)
    for old in sorted(layout.logs.glob("*.json"))[:-KEEP_LOGS]:
        old.unlink(missing_ok=True)
    return str(path)


# -- fetching ----------------------------------------------------------------------------------
def _instance_doc(layout: Layout) -> dict:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((layout.etc / "instance.json").read_text())
    return {}


def fetch(source: str, sha256: str, layout: Layout) -> Path:
    if not source.startswith("s3://"):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"--bundle: {source}: no such file")
        return path
    bucket, _, key = source[5:].partition("/")
    if not bucket or not key:
        raise ConfigError(f"--bundle: expected s3://BUCKET/KEY, got {source!r}")
    dest = layout.work / "bundles" / f"{sha256}.tar.gz"
    if dest.is_file() and hotfix_bundle.sha256_of(dest) == sha256:
        return dest
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    doc = _instance_doc(layout)
    region = (
        doc.get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    kwargs = {
        "region_name": region,
        "config": Config(
            retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60
        ),
    }
    endpoint = (doc.get("aws") or {}).get("endpoint_url")
    url = awsclient.resolve_endpoint("s3", endpoint)
    if url:
        kwargs["endpoint_url"] = url
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    try:
        # The document names an endpoint only for the local emulator: dummy keys there.
        aws = awsclient.session(url, emulator=True if endpoint else None)
        aws.client("s3", **kwargs).download_file(bucket, key, str(tmp))
    except (BotoCoreError, ClientError) as exc:
        tmp.unlink(missing_ok=True)
        raise OperationFailed(f"--bundle: downloading {source} failed: {exc}") from None
    os.replace(tmp, dest)
    return dest


# -- the operations --------------------------------------------------------------------------
def _record(mode: str, started: float, started_at: str, summary: dict, **extra) -> dict:
    return {
        "schema": SCHEMA,
        "mode": mode,
        "host": socket.gethostname(),
        "started_at": started_at,
        "finished_at": _now(),
        "duration_s": round(time.monotonic() - started, 1),
        **extra,
        **summary,
    }


def apply(
    source: str,
    sha256: str,
    *,
    test: bool = False,
    dry_run: bool = False,
    layout: Layout | None = None,
    timeout: float = 1800,
    progress=eprint,
) -> dict:
    """Apply a bundle (or, with test/dry_run, only check it). Returns the record."""
    layout = layout or Layout()
    started, started_at = time.monotonic(), _now()
    if not hotfix_bundle.SHA256.match(sha256 or ""):
        raise ConfigError(f"--sha256: expected 64 lowercase hex characters, got {sha256!r}")
    with _locked(layout):
        bundle = fetch(source, sha256, layout)
        layout.trees.mkdir(parents=True, exist_ok=True)
        unpacked = layout.trees / f".unpack-{sha256[:16]}-{_stamp()}"
        progress(f"golden hotfix: checking bundle {sha256[:12]} ({source})")
        manifest = hotfix_bundle.unpack(bundle, sha256, unpacked)
        bundle_info = {"sha256": sha256, "commit": manifest.get("commit", ""), "source": source}
        cache = layout.work / "cache-check"
        try:
            shutil.rmtree(cache, ignore_errors=True)
            progress("golden hotfix: rendering the new tree (nothing is applied yet)")
            _validate_render(layout, unpacked, cache, timeout)
            if dry_run or test:
                summary = {
                    "test": True,
                    "states": {},
                    "changed": [],
                    "failed": [],
                    "errors": [],
                    "result": "success",
                }
                if test:
                    progress("golden hotfix: highstate with test=True against the bundle")
                    summary, output = _highstate(
                        layout, test=True, roots=unpacked, cachedir=cache, timeout=timeout
                    )
                    _keep_log(layout, "test", output)
                record = _record(
                    "dry-run" if dry_run else "test",
                    started,
                    started_at,
                    summary,
                    bundle=bundle_info,
                    tree=describe_tree(_target(layout.current)),
                )
                if test:
                    write_json(layout.etc / "drift.json", record)
                return record
        except BaseException:
            shutil.rmtree(unpacked, ignore_errors=True)
            raise
        finally:
            if dry_run or test:
                shutil.rmtree(unpacked, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)

        try:
            ensure_store(layout)
            final = layout.trees / f"{sha256[:16]}-{_stamp()}"
            os.rename(unpacked, final)
            write_json(
                final / "origin.json",
                {
                    "bundle_sha256": sha256,
                    "source": source,
                    "commit": bundle_info["commit"],
                    "unpacked_at": _now(),
                },
            )
            before = _target(layout.current)
            _point(layout.current, f"trees/{final.name}")
            if before is not None:
                _point(layout.previous, f"trees/{before.name}")
            _prune(layout)
        except OSError as exc:
            shutil.rmtree(unpacked, ignore_errors=True)
            raise OperationFailed(f"putting the new tree in place failed: {exc}") from None
        progress(
            f"golden hotfix: tree {final.name} in place (previous: "
            f"{before.name if before else 'none'}); running the highstate"
        )
        return _run_and_record(
            layout,
            "apply",
            started,
            started_at,
            timeout,
            bundle=bundle_info,
            previous_tree=describe_tree(before),
        )


def _run_and_record(
    layout: Layout, mode: str, started: float, started_at: str, timeout: float, **extra
) -> dict:
    _clear_fileserver_cache(layout)
    _sync(layout, timeout=timeout)
    offset = serving.log_size(layout.nginx_access_log)
    summary, output = _highstate(layout, test=False, timeout=timeout)
    # A highstate that took the app down is not a success, even if every state was.
    dropped = serving.failed_requests_since(layout.nginx_access_log, offset,
                                            flush_seconds=layout.log_flush_seconds)  # fmt: skip
    if dropped:
        summary["errors"] = [*summary.get("errors", []), serving.dropped_message(dropped)]
        summary["result"] = "failed"
    log = _keep_log(layout, mode, output)
    record = _record(
        mode,
        started,
        started_at,
        summary,
        tree=describe_tree(_target(layout.current)),
        log=log,
        **extra,
    )
    write_json(layout.etc / "hotfix.json", record)
    return record


def revert(*, layout: Layout | None = None, timeout: float = 1800, progress=eprint) -> dict:
    """Swap back to the previous tree and apply it (a second revert swaps again)."""
    layout = layout or Layout()
    started, started_at = time.monotonic(), _now()
    with _locked(layout):
        current, previous = _target(layout.current), _target(layout.previous)
        if current is None or previous is None or not previous.is_dir():
            raise ConfigError(
                "--revert: no previous tree on this instance (no hotfix was "
                "applied here, or it was the first and only tree)"
            )
        _point(layout.current, f"trees/{previous.name}")
        _point(layout.previous, f"trees/{current.name}")
        progress(f"golden hotfix: reverted to tree {previous.name}; running the highstate")
        return _run_and_record(
            layout, "revert", started, started_at, timeout, previous_tree=describe_tree(current)
        )


def drift(*, layout: Layout | None = None, timeout: float = 1800, progress=eprint) -> dict:
    """highstate test=True against the tree in place: what differs from it. Units that
    are still starting are waited for (bounded) first; if some still are, drift says so
    and does not run (a unit caught starting is not drift)."""
    layout = layout or Layout()
    started, started_at = time.monotonic(), _now()
    starting = serving.wait_settled(layout.systemctl, layout.settle_seconds, progress)
    if starting:
        raise OperationFailed(
            f"golden drift: systemd is still starting {', '.join(starting)} after "
            f"{layout.settle_seconds:.0f}s; run drift again once the instance has booted"
        )
    with _locked(layout):
        progress("golden drift: highstate with test=True against the tree in place")
        _sync(layout, timeout=timeout)
        summary, output = _highstate(layout, test=True, timeout=timeout)
        _keep_log(layout, "drift", output)
        tree = describe_tree(_target(layout.current)) or {
            "name": "baked",
            "source": "baked",
            "commit": _image_state_revision(layout),
        }
        record = _record(
            "drift",
            started,
            started_at,
            summary,
            tree=tree,
            drifted=summary["states"].get("changed", 0) > 0,
        )
        write_json(layout.etc / "drift.json", record)
        return record


def status(*, layout: Layout | None = None) -> dict:
    """What is in place; changes nothing (the fleet's pre-flight probe)."""
    from golden import __version__

    layout = layout or Layout()
    last = {}
    for name in ("hotfix", "drift"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((layout.etc / f"{name}.json").read_text())
            last[name] = {k: data.get(k) for k in ("mode", "finished_at", "result", "bundle")}
    current = describe_tree(_target(layout.current)) or {
        "name": "baked",
        "source": "baked",
        "commit": _image_state_revision(layout),
    }
    return {
        "schema": SCHEMA,
        "mode": "status",
        "host": socket.gethostname(),
        "golden_version": __version__,
        "tree": current,
        "previous_tree": describe_tree(_target(layout.previous)),
        "image_state_tree_revision": _image_state_revision(layout),
        "last": last,
        "result": "success",
    }
