"""A small reader of rendered nginx configuration for tests: blocks and directives, no
includes, no variables. Enough to ask "which access rules does this location have" or
"what is proxy_read_timeout here" of a file the state tree renders."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""'[^']*'|"[^"]*"|[{};]|[^\s{};'"]+""")


@dataclass
class Block:
    name: str
    args: list[str]
    directives: list[tuple[str, list[str]]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def get(self, name: str) -> list[list[str]]:
        """The arguments of every ``name`` directive directly in this block."""
        return [args for directive, args in self.directives if directive == name]

    def one(self, name: str) -> list[str]:
        found = self.get(name)
        assert len(found) == 1, f"{self.name} {' '.join(self.args)}: {len(found)} x {name}"
        return found[0]

    def walk(self):
        yield self
        for block in self.blocks:
            yield from block.walk()

    def find(self, name: str, *args: str) -> Block:
        for block in self.walk():
            if block.name == name and block.args == list(args):
                return block
        raise AssertionError(f"no block {name} {' '.join(args)}")


def _without_comments(text: str) -> str:
    out, quote = [], None
    for line in text.splitlines():
        kept = []
        for char in line:
            if quote:
                quote = None if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#":
                break
            kept.append(char)
        out.append("".join(kept))
    return "\n".join(out)


def parse(text: str) -> Block:
    tokens = _TOKEN.findall(_without_comments(text))
    root = Block("main", [])
    stack, words = [root], []
    for token in tokens:
        if token == "{":
            block = Block(words[0], [w.strip("'\"") for w in words[1:]])
            stack[-1].blocks.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        elif token == ";":
            if words:
                stack[-1].directives.append((words[0], [w.strip("'\"") for w in words[1:]]))
            words = []
        else:
            words.append(token)
    assert len(stack) == 1, "unbalanced braces"
    return root


def seconds(value: str) -> float:
    """nginx time value (``60s``, ``5m``, ``300``, ``1h``) in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h)?", value)
    assert match, f"not an nginx time: {value!r}"
    number, unit = int(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
