"""Error types with messages a user can act on; the CLI maps them to exit codes in one place."""


class GoldenError(Exception):
    """Base for every expected failure. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(GoldenError):
    """Bad input (a settings file, a pillar, a flag): nothing was changed."""

    exit_code = 2


class PreflightError(GoldenError):
    """A check before any change failed: nothing was changed."""

    exit_code = 3


class OperationFailed(GoldenError):
    """A long operation (build, release, hotfix) ran and failed."""

    exit_code = 4
