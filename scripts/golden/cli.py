"""The `golden` command line. It parses arguments, calls one orchestration function per
command and prints; decisions live in the modules it imports."""

from __future__ import annotations

import sys

import click

from golden import __version__
from golden.core.errors import GoldenError


class GoldenGroup(click.Group):
    """Maps GoldenError to its exit code and a one-line message on stderr."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GoldenError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=GoldenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="golden")
def main() -> None:
    """golden: bake, release and hotfix the AGENT platform's golden images.

    Progress and errors go to stderr, results to stdout (use --json for CI).
    """


def _register() -> None:
    # Each job registers its own commands; the twin job first, since it makes the `local`
    # group that the bake job adds `local ami` to.
    from autoscaling import commands as release_commands
    from golden.audit import commands as audit_commands
    from golden.bake import commands as bake_commands
    from golden.bench import commands as bench_commands
    from golden.cost import commands as cost_commands
    from golden.cutover import commands as cutover_commands
    from golden.hotfix import commands as hotfix_commands
    from golden.infra import commands as infra_commands
    from golden.instance import commands as instance_commands
    from golden.rehearsal import commands as rehearsal_commands
    from golden.twin import commands as twin_commands

    for module in (
        twin_commands, bench_commands, bake_commands, instance_commands, release_commands,
        hotfix_commands, rehearsal_commands, audit_commands, cutover_commands, cost_commands,
        infra_commands,
    ):  # fmt: skip
        module.register(main)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
