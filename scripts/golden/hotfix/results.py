"""What a highstate did, from Salt's JSON output: pure functions, no Salt import.

``salt-call --local --out=json state.highstate`` prints ``{"local": RESULT}``. RESULT is a
mapping of state keys (``file_|-ID_|-NAME_|-managed``) to results when the tree rendered,
or a list of error strings when it did not. A state changed when it reports changes; in
test mode (``test=True``) a state that *would* change reports result ``None``. A state
failed when its result is ``False``.

The summary stays small (an SSM invocation shows at most 24,000 characters of output):
long comments are cut and long lists end with a count of what was left out.
"""

from __future__ import annotations

import json
from typing import Any

MAX_ITEMS = 40
MAX_COMMENT = 300
DETAIL_LINES = 8


def _cut(text: Any, limit: int = MAX_COMMENT) -> str:
    text = "" if text is None else str(text)
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_output(text: str) -> Any:
    """The RESULT inside Salt's JSON document, or None when there is none."""
    text = (text or "").strip()
    candidates = [text]
    start = text.find("{")
    if start > 0:
        candidates.append(text[start:])
    for candidate in candidates:
        try:
            doc = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(doc, dict) and "local" in doc:
            return doc["local"]
    return None


def split_key(key: str) -> tuple[str, str, str]:
    """(function, id, name) of a state key like ``file_|-ID_|-NAME_|-managed``."""
    parts = key.split("_|-")
    if len(parts) < 4:
        return "", key, ""
    return f"{parts[0]}.{parts[-1]}", parts[1], "_|-".join(parts[2:-1])


def _detail(state: dict) -> list[str]:
    """A command state's first output lines (the app roll reports its replicas there)."""
    changes = state.get("changes") or {}
    if not isinstance(changes, dict):
        return []
    out = changes.get("stdout") or ""
    err = changes.get("stderr") or ""
    lines = [line for line in f"{out}\n{err}".splitlines() if line.strip()]
    return [_cut(line, 200) for line in lines[:DETAIL_LINES]]


def _capped(items: list[dict]) -> tuple[list[dict], int]:
    return items[:MAX_ITEMS], max(0, len(items) - MAX_ITEMS)


def summarise(result: Any, *, test: bool, retcode: int | None = None, raw: str = "") -> dict:
    """Salt's RESULT (see :func:`parse_output`) -> counts and the states that matter.

    ``result`` is None when Salt printed no JSON at all; ``raw`` then supplies the tail."""
    summary: dict[str, Any] = {
        "test": test,
        "states": {"total": 0, "changed": 0, "failed": 0, "unchanged": 0},
        "changed": [],
        "failed": [],
        "errors": [],
        "salt_seconds": 0.0,
    }
    if result is None:
        tail = "\n".join((raw or "").strip().splitlines()[-10:])
        summary["errors"] = [_cut(f"salt-call printed no JSON (exit {retcode}): {tail}", 1000)]
    elif isinstance(result, list):
        summary["errors"] = [_cut(e, 1000) for e in result][:MAX_ITEMS]
    elif isinstance(result, str):
        summary["errors"] = [_cut(result, 1000)]
    elif isinstance(result, dict):
        _summarise_states(result, test, summary)
    else:
        summary["errors"] = [f"unexpected Salt output of type {type(result).__name__}"]
    if retcode not in (None, 0) and not summary["failed"] and not summary["errors"]:
        summary["errors"].append(f"salt-call exited {retcode} without naming a failed state")
    summary["result"] = "failed" if summary["failed"] or summary["errors"] else "success"
    return summary


def _summarise_states(result: dict, test: bool, summary: dict) -> None:
    """Fill SUMMARY's counts, lists and salt_seconds from a rendered RESULT, in run order;
    a state that is not a dict is an error."""
    changed, failed = [], []
    ordered = sorted(
        result.items(),
        key=lambda kv: (kv[1] or {}).get("__run_num__", 0) if isinstance(kv[1], dict) else 0,
    )
    total_ms = 0.0
    for key, state in ordered:
        if not isinstance(state, dict):
            summary["errors"].append(_cut(f"{key}: {state}"))
            continue
        duration = state.get("duration")
        if isinstance(duration, (int, float)):
            total_ms += duration
        kind, entry = _state_entry(key, state, test)
        if kind == "failed":
            failed.append(entry)
        elif kind == "changed":
            changed.append(entry)
    summary["states"] = {
        "total": len(ordered),
        "changed": len(changed),
        "failed": len(failed),
        "unchanged": len(ordered) - len(changed) - len(failed),
    }
    summary["changed"], left = _capped(changed)
    if left:
        summary["changed_not_listed"] = left
    summary["failed"], left = _capped(failed)
    if left:
        summary["failed_not_listed"] = left
    summary["salt_seconds"] = round(total_ms / 1000.0, 2)


def _state_entry(key: str, state: dict, test: bool) -> tuple[str | None, dict]:
    """("failed", entry), ("changed", entry) or (None, entry) for one state's result: it
    failed, it changed (or would, in test mode), or neither."""
    function, sid, name = split_key(key)
    entry = {
        "id": state.get("__id__", sid),
        "function": function,
        "name": _cut(state.get("name", name), 120),
        "sls": state.get("__sls__", ""),
    }
    outcome = state.get("result")
    if outcome is False:
        kind, limit = "failed", MAX_COMMENT
    elif state.get("changes") or (test and outcome is None):
        kind, limit = "changed", 160
    else:
        return None, entry
    entry["comment"] = _cut(state.get("comment"), limit)
    detail = _detail(state)
    if detail:
        entry["detail"] = detail
    return kind, entry


def from_stdout(text: str) -> dict | None:
    """A record printed by `golden instance hotfix|drift --json` (the last JSON line that
    carries a schema), or None. The fleet side reads SSM's StandardOutputContent with it."""
    for line in reversed((text or "").strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "schema" in doc and "mode" in doc:
            return doc
    return None
