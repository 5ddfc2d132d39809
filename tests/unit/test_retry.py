"""golden.core.retry: bounded back-off on the AWS error codes a caller names."""

from __future__ import annotations

import pytest
from golden.core import retry


class AwsError(Exception):
    """Shaped like botocore's ClientError (response["Error"]["Code"])."""

    def __init__(self, code: str):
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": code}}


def flaky(*outcomes):
    """A call that raises or returns OUTCOMES in turn, counting its calls."""
    calls = []

    def func():
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return func, calls


def test_the_default_back_off_grows_is_capped_and_bounded():
    assert retry.DEFAULT.delays() == [2.0, 4.0, 8.0, 16.0, 30.0]
    assert retry.DEFAULT.budget() == 60.0
    assert retry.Backoff(attempts=1).delays() == []


def test_a_transient_error_is_retried_until_the_call_succeeds():
    waited: list[float] = []
    backoff = retry.Backoff(first=1, factor=3, sleep=waited.append)
    func, calls = flaky(AwsError("InvalidSnapshot.InUse"), AwsError("InvalidSnapshot.InUse"), "ok")
    told = []
    result = retry.call(func, retry.SNAPSHOT_STILL_IN_USE, backoff, lambda c, s: told.append(c))
    assert result == "ok" and len(calls) == 3
    assert waited == [1, 3] and told == ["InvalidSnapshot.InUse"] * 2


def test_the_last_error_is_raised_after_the_tries_are_used_up():
    waited: list[float] = []
    backoff = retry.Backoff(attempts=3, sleep=waited.append)
    func, calls = flaky(*[AwsError("InvalidSnapshot.InUse")] * 5)
    with pytest.raises(AwsError, match="InUse"):
        retry.call(func, retry.SNAPSHOT_STILL_IN_USE, backoff)
    assert len(calls) == 3 and len(waited) == 2


def test_any_other_error_is_raised_at_once():
    waited: list[float] = []
    func, calls = flaky(AwsError("UnauthorizedOperation"), "ok")
    with pytest.raises(AwsError):
        retry.call(func, retry.SNAPSHOT_STILL_IN_USE, retry.Backoff(sleep=waited.append))
    assert len(calls) == 1 and waited == []
    with pytest.raises(ValueError):
        retry.call(
            lambda: int("x"), retry.SNAPSHOT_STILL_IN_USE, retry.Backoff(sleep=waited.append)
        )


def test_describe_waits_for_a_resource_to_become_visible_or_gives_up_with_none():
    waited: list[float] = []
    backoff = retry.Backoff(attempts=4, sleep=waited.append)
    func, calls = flaky(AwsError("InvalidAMIID.NotFound"), None, {"ImageId": "ami-1"})
    assert retry.describe(func, retry.AMI_NOT_VISIBLE, backoff) == {"ImageId": "ami-1"}
    assert len(calls) == 3
    never, calls = flaky(*[None] * 4)
    assert retry.describe(never, retry.AMI_NOT_VISIBLE, backoff) is None
    assert len(calls) == 4
    broken, _ = flaky(AwsError("AuthFailure"))
    with pytest.raises(AwsError):
        retry.describe(broken, retry.AMI_NOT_VISIBLE, backoff)
