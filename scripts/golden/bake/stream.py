"""Parse `packer build -machine-readable` output into events. Pure: lines in, data out.

Each line is TIMESTAMP,TARGET,TYPE,DATA... Commas inside data are written as
%!(PACKER_COMMA) and newlines as a literal backslash-n, so a line splits cleanly on ','.
The human text sits in `ui` lines (say = step, message = output, error = failure);
artifacts arrive as TARGET,artifact,N,KEY,VALUE and TARGET,artifact-count,N."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

COMMA = "%!(PACKER_COMMA)"
PROVISION_STEP = "==> golden-provision"

TEST_SUMMARY = re.compile(
    r"golden-provision: tests passed=(?P<passed>\d+) failed=(?P<failed>\d+)"
    r" skipped=(?P<skipped>\d+)"
)
# A state in Salt's highstate output: "          ID: x" / "    Function: pkg.installed" /
# "      Result: False" / "     Comment: why" (further comment lines indented, no key).
_SALT_FIELD = re.compile(
    r"^\s{0,12}(?P<key>ID|Function|Name|Result|Comment|Started|Duration|Changes): ?(?P<value>.*)$"
)
_SALT_COMMENT_LINES = 4
_SALT_INDENT = " " * 12
# "==> golden.docker.twin: Starting..." (a step) / "    golden.docker.twin: output" (output)
_STEP = re.compile(r"^==> (?P<source>[\w.-]+): (?P<text>.*)$", re.S)
_OUTPUT = re.compile(r"^    (?P<source>[\w.-]+): ?(?P<text>.*)$", re.S)


def unescape(value: str) -> str:
    return value.replace(COMMA, ",").replace("\\n", "\n").replace("\\r", "\r")


@dataclass(frozen=True)
class Ui:
    """Human text: kind is say (a step), message (output) or error."""

    kind: str
    text: str
    timestamp: int = 0


@dataclass(frozen=True)
class Artifact:
    target: str
    index: int
    key: str
    value: str
    timestamp: int = 0


@dataclass(frozen=True)
class ArtifactCount:
    target: str
    count: int
    timestamp: int = 0


@dataclass(frozen=True)
class BuildError:
    """TARGET,error,TEXT: a build that failed, with Packer's reason."""

    target: str
    text: str
    timestamp: int = 0


@dataclass(frozen=True)
class Other:
    """Any other line type (version, error-count, ...), kept for completeness."""

    target: str
    type: str
    data: tuple[str, ...]
    timestamp: int = 0


@dataclass(frozen=True)
class Unparsed:
    """A line that is not machine-readable (e.g. a crash trace on the same stream)."""

    text: str


Event = Ui | Artifact | ArtifactCount | BuildError | Other | Unparsed


def parse_line(line: str) -> Event:
    line = line.rstrip("\r\n")
    parts = line.split(",")
    if len(parts) < 3 or not parts[0].isdigit():
        return Unparsed(line)
    stamp, target, kind, data = int(parts[0]), parts[1], parts[2], parts[3:]
    data = [unescape(part) for part in data]
    if kind == "ui" and data:
        return Ui(kind=data[0], text=",".join(data[1:]), timestamp=stamp)
    if kind == "artifact" and len(data) >= 2 and data[0].isdigit():
        return Artifact(target, int(data[0]), data[1], ",".join(data[2:]), timestamp=stamp)
    if kind == "artifact-count" and data and data[0].isdigit():
        return ArtifactCount(target, int(data[0]), timestamp=stamp)
    if kind == "error" and target:
        return BuildError(target, ",".join(data), timestamp=stamp)
    return Other(target, kind, tuple(data), timestamp=stamp)


def split_ui(text: str) -> tuple[str | None, str, bool]:
    """(source, text, is_step) for a ui line: which build it belongs to and its text
    without Packer's prefix. Lines without a source prefix return (None, text, False)."""
    step = _STEP.match(text)
    if step:
        return step.group("source"), step.group("text"), True
    out = _OUTPUT.match(text)
    if out:
        return out.group("source"), out.group("text"), False
    return None, text, False


def plain_lines(text: str) -> list[str]:
    """The lines of a ui text without Packer's per-line source prefixes (a multi-line
    message repeats "==> golden.docker.twin: " on every line)."""
    return [split_ui(line)[1] for line in text.rstrip("\n").splitlines()] or [""]


def parse_test_summary(text: str) -> dict[str, int] | None:
    """The provisioning script's closing line, wherever it appears in ``text``."""
    matches = list(TEST_SUMMARY.finditer(text))
    if not matches:
        return None
    return {key: int(value) for key, value in matches[-1].groupdict().items()}


def parse_amazon_artifact_id(value: str) -> dict[str, str]:
    """ "us-east-1:ami-1,eu-west-1:ami-2" -> {region: ami id}."""
    regions: dict[str, str] = {}
    for part in value.split(","):
        region, sep, ami = part.strip().partition(":")
        if sep and ami.startswith("ami-"):
            regions[region] = ami
    return regions


@dataclass(frozen=True)
class FailedState:
    """A Salt state whose Result was False: its ID, state function and comment."""

    id: str
    function: str
    comment: str


@dataclass
class SaltStateScan:
    """Folds Salt's highstate text output, line by line, into the states that failed, so
    a failed bake names them even when the output's tail shows only the summary."""

    failed: list[FailedState] = field(default_factory=list)
    _state: dict[str, str] = field(default_factory=dict)
    _comment: list[str] = field(default_factory=list)
    _in_comment: bool = False

    def feed(self, line: str) -> None:
        found = _SALT_FIELD.match(line)
        if found is None:
            # Salt indents a comment's further lines under its first; the summary and
            # the "----------" separators start at the margin.
            if self._in_comment and line.startswith(_SALT_INDENT) and line.strip():
                self._comment.append(line.strip())
            else:
                self._in_comment = False
            return
        key, value = found.group("key"), found.group("value").strip()
        if key == "ID":
            self._close()
            self._state = {"id": value}
        elif key in ("Function", "Result"):
            self._state[key] = value
        elif key == "Comment":
            self._comment = [value] if value else []
        self._in_comment = key == "Comment"

    def finish(self) -> list[FailedState]:
        """The failed states so far, including one still open at the end of the output."""
        self._close()
        return self.failed

    def _close(self) -> None:
        if self._state.get("Result") == "False" and self._state.get("id"):
            comment = " ".join(self._comment[:_SALT_COMMENT_LINES])
            self.failed.append(FailedState(self._state["id"], self._state.get("Function", ""),
                                           comment))  # fmt: skip
        self._state, self._comment, self._in_comment = {}, [], False


@dataclass
class StreamSummary:
    """What a whole build stream said, folded from its events."""

    steps: list[tuple[str | None, str]] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    build_errors: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, dict[int, dict[str, str]]] = field(default_factory=dict)
    artifact_counts: dict[str, int] = field(default_factory=dict)
    tests: dict[str, int] | None = None
    interrupted: bool = False
    failing_step: str | None = None
    tail_size: int = 40
    salt: SaltStateScan = field(default_factory=SaltStateScan)

    def feed(self, event: Event) -> None:
        if isinstance(event, Ui):
            self._feed_ui(event)
        elif isinstance(event, Artifact):
            slot = self.artifacts.setdefault(event.target, {}).setdefault(event.index, {})
            slot[event.key] = event.value
        elif isinstance(event, ArtifactCount):
            self.artifact_counts[event.target] = event.count
        elif isinstance(event, BuildError):
            self.build_errors[event.target] = event.text
        elif isinstance(event, Unparsed) and event.text:
            self.output_tail.append(event.text)
            del self.output_tail[: -self.tail_size]

    def _feed_ui(self, event: Ui) -> None:
        source, text, is_step = split_ui(event.text)
        if event.kind == "error":
            self.errors.append(event.text)
        if self.failing_step is None and _ends_the_build(event.kind, text, is_step):
            self.failing_step = self.last_step() or text
        if is_step and event.kind == "say":
            self.steps.append((source, text))
        elif event.kind == "message" and text.startswith(PROVISION_STEP):
            # The provisioning script's own steps: a finer "where did it fail".
            self.steps.append((source, text[len("==> ") :]))
        if "Cancelling build after receiving interrupt" in event.text:
            self.interrupted = True
        lines = plain_lines(event.text)
        if event.kind == "message":
            for line in lines:
                self.salt.feed(line)
        self.output_tail.extend(lines)
        del self.output_tail[: -self.tail_size]
        summary = parse_test_summary(event.text)
        if summary is not None:
            self.tests = summary

    def last_step(self) -> str | None:
        return self.steps[-1][1] if self.steps else None

    def failed_states(self) -> list[FailedState]:
        """The Salt states the provisioning's highstates reported failed, in order."""
        return self.salt.finish()

    def artifact_ids(self, target: str) -> list[str]:
        """Distinct artifact ids of ``target`` in order (a pass-through post-processor
        such as the manifest repeats the builder's artifact)."""
        found = self.artifacts.get(target, {})
        ids = [found[i]["id"] for i in sorted(found) if "id" in found[i]]
        return list(dict.fromkeys(ids))


def _ends_the_build(kind: str, text: str, is_step: bool) -> bool:
    """The first sign that a build failed: Packer's own step error, its note that the
    provisioning step failed, or the build's error line. Provisioner stderr (also shown as
    ui error) does not count: a successful script may write warnings there."""
    if kind == "say":
        return text.startswith("Provisioning step had errors")
    if kind == "error":
        return (is_step and text.startswith("Error")) or text.startswith("Build '")
    return False


def summarize(lines) -> StreamSummary:
    summary = StreamSummary()
    for line in lines:
        summary.feed(parse_line(line))
    return summary
