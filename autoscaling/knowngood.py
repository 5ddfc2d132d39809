"""Which launch-template versions ran well: recorded on the template as a tag so every
operator (and `golden rollback`) sees the same history. Pure list logic + two adapters."""

from __future__ import annotations

from golden.core import tags as T

KEEP = 20  # a tag value holds at most 256 characters


def parse(value: str | None) -> list[int]:
    out = []
    for part in (value or "").split():
        if part.isdigit():
            out.append(int(part))
    return out


def render(history: list[int]) -> str:
    return " ".join(str(v) for v in history[-KEEP:])


def after_success(history: list[int], version: int) -> list[int]:
    return [v for v in history if v != version] + [version]


def after_rollback(history: list[int], bad: int | None, good: int) -> list[int]:
    return [v for v in history if v not in (bad, good)] + [good]


def previous_good(history: list[int], current: int | None) -> int | None:
    """The most recent known-good version other than the one the group runs now."""
    for version in reversed(history):
        if version != current:
            return version
    return None


def read(template: dict) -> list[int]:
    tags = {t["Key"]: t["Value"] for t in template.get("Tags") or []}
    return parse(tags.get(T.KNOWN_GOOD))


def write(ec2, template_id: str, history: list[int]) -> None:
    ec2.create_tags(Resources=[template_id], Tags=[{"Key": T.KNOWN_GOOD, "Value": render(history)}])
