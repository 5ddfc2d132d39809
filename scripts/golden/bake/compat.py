"""A rendering of the Packer template that Packer 1.6.6 accepts.

The template is written for current Packer (1.9+ with the amazon plugin). The only Packer
this build machine can install, 1.6.6, lacks exactly three constructs: the
`required_plugins` block, the amazon-ebs `metadata_options` block and its `imds_support`
argument. This module drops those and nothing else; everything the test harness bakes
from the rendering is otherwise the template users run. Pure text in, text out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DROPPED_BLOCKS = ("required_plugins", "metadata_options")
DROPPED_ATTRIBUTES = ("imds_support",)

# Packer versions from which the original template is used unchanged.
FULL_SUPPORT_FROM = (1, 7, 0)

_CONSTRUCT = re.compile(
    r"^[ \t]*(?:(?P<block>{blocks})[ \t]*\{{|(?P<attr>{attrs})[ \t]*=)".format(
        blocks="|".join(DROPPED_BLOCKS), attrs="|".join(DROPPED_ATTRIBUTES)
    )
)
_HEREDOC = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*$")


@dataclass(frozen=True)
class Dropped:
    name: str
    first_line: int  # 1-based, in the original text
    last_line: int


def needs_compat(version: tuple[int, int, int]) -> bool:
    return tuple(version) < FULL_SUPPORT_FROM


def _construct_end(lines: list[str], start: int) -> int:
    """Index of the last line of the construct that begins on ``lines[start]``: the line
    where its brackets close again, skipping strings, comments and heredocs."""
    depth = 0
    in_string = False
    heredoc: str | None = None
    index = start
    while index < len(lines):
        line = lines[index]
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
                if depth == 0:
                    return index
            index += 1
            continue
        depth, in_string = _scan_line(line, depth, in_string, index + 1)
        match = _HEREDOC.search(line) if not in_string else None
        if match:
            heredoc = match.group(1)
        elif depth <= 0 and not in_string:
            return index
        index += 1
    raise ValueError(f"line {start + 1}: construct is not closed before the end of the file")


def _scan_line(line: str, depth: int, in_string: bool, number: int) -> tuple[int, bool]:
    """The bracket depth and whether a string is open at the end of ``line``, given both
    at its start; brackets inside strings and comments do not count. ``number`` is the
    line's 1-based number, for the error a block comment raises."""
    pos = 0
    while pos < len(line):
        char = line[pos]
        if in_string:
            if char == "\\":
                pos += 2
                continue
            if char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#" or line.startswith("//", pos):
            break
        elif line.startswith("/*", pos):
            close = line.find("*/", pos + 2)
            if close == -1:
                raise ValueError(f"line {number}: block comment inside a dropped construct")
            pos = close + 2
            continue
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
        pos += 1
    return depth, in_string


def render(text: str) -> tuple[str, list[Dropped]]:
    """The template text without the constructs Packer 1.6.6 rejects, and what was dropped."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    dropped: list[Dropped] = []
    index = 0
    while index < len(lines):
        match = _CONSTRUCT.match(lines[index])
        if not match:
            kept.append(lines[index])
            index += 1
            continue
        end = _construct_end(lines, index)
        name = match.group("block") or match.group("attr")
        dropped.append(Dropped(name=name, first_line=index + 1, last_line=end + 1))
        index = end + 1
    return "".join(kept), dropped


def render_dir(src: Path, dest: Path) -> dict[str, list[Dropped]]:
    """Write the compatibility rendering of every *.pkr.hcl in ``src`` into ``dest``
    (replacing earlier renderings there); returns what was dropped per file."""
    src, dest = Path(src), Path(dest)
    templates = sorted(src.glob("*.pkr.hcl"))
    if not templates:
        raise FileNotFoundError(f"{src}: no *.pkr.hcl template files")
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.glob("*.pkr.hcl"):
        stale.unlink()
    report: dict[str, list[Dropped]] = {}
    for template in templates:
        rendered, dropped = render(template.read_text(encoding="utf-8"))
        (dest / template.name).write_text(rendered, encoding="utf-8")
        report[template.name] = dropped
    return report
