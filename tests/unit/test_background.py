"""A background thread that fails says so in one line, never with a traceback."""

from __future__ import annotations

from golden.core.shell import in_background


def test_a_failing_background_thread_prints_one_line_and_calls_back(capsys):
    seen = []

    def seed():
        raise RuntimeError("Unable to locate credentials\nsecond line")

    in_background("seeding local", seed, on_error=seen.append).join(5)
    err = capsys.readouterr().err
    assert err == "error: seeding local failed: RuntimeError: Unable to locate credentials\n"
    assert len(seen) == 1 and isinstance(seen[0], RuntimeError)


def test_a_background_thread_that_succeeds_prints_nothing(capsys):
    done = []
    in_background("work", done.append, 1).join(5)
    assert done == [1] and capsys.readouterr().err == ""
