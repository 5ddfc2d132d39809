"""Which endpoint a client talks to and whose keys it signs with
(golden.core.awsclient): the emulator on loopback never gets a user's credentials."""

from __future__ import annotations

import pytest
from golden.core import awsclient


@pytest.fixture
def user_config(monkeypatch, tmp_path):
    """A user with a profile that cannot be used here and keys in the environment."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2",
                 "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUSERSREALKEY0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "real-token")


def _signing(client):
    return client._request_signer._credentials.get_frozen_credentials()


def test_endpoint_order_is_service_variable_then_global_then_configured(user_config,
                                                                        monkeypatch):  # fmt: skip
    assert awsclient.resolve_endpoint("ec2", "http://127.0.0.1:5050") == "http://127.0.0.1:5050"
    assert awsclient.resolve_endpoint("ec2") is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7000")
    assert awsclient.resolve_endpoint("ec2", "http://127.0.0.1:5050") == "http://127.0.0.1:7000"
    # botocore's name for elbv2's own variable comes from its service id.
    monkeypatch.setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", "http://127.0.0.1:7001")
    assert awsclient.resolve_endpoint("elbv2") == "http://127.0.0.1:7001"
    assert awsclient.resolve_endpoint("ec2") == "http://127.0.0.1:7000"


def test_a_loopback_client_signs_with_the_emulator_keys_and_reads_no_profile(user_config):
    client = awsclient.client("ec2", region="us-east-1", endpoint="http://127.0.0.1:5050")
    keys = _signing(client)
    assert (keys.access_key, keys.token) == (awsclient.EMULATOR_ACCESS_KEY_ID, None)
    assert client.meta.endpoint_url == "http://127.0.0.1:5050"


def test_any_other_endpoint_keeps_the_ordinary_credential_chain(user_config, monkeypatch):
    monkeypatch.delenv("AWS_PROFILE")
    client = awsclient.client("ec2", region="us-east-1", endpoint="https://ec2.example.com")
    assert _signing(client).access_key == "AKIAUSERSREALKEY0000"
    known = awsclient.session("http://golden-local-aws:5000", emulator=True).client(
        "ssm", region_name="us-east-1", endpoint_url="http://golden-local-aws:5000"
    )
    assert _signing(known).access_key == awsclient.EMULATOR_ACCESS_KEY_ID


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:5000", True), ("http://localhost:5000/", True), ("http://[::1]:5000", True),
    ("https://ec2.us-east-1.amazonaws.com", False), ("", False), (None, False),
    ("http://127.0.0.1.nip.io:5000", False), ("http://10.0.0.1:5000", False),
])  # fmt: skip
def test_loopback_is_an_address_or_localhost_never_a_lookalike_name(url, loopback):
    assert awsclient.is_loopback_endpoint(url) is loopback
