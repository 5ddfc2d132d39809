"""Every boto3 client golden makes, in one place: which endpoint it talks to and whose
credentials it signs with.

A client for a loopback endpoint (the AWS emulator, `make emulator`, `ENV=local`) signs
with fixed dummy keys from a session that reads no profile, no shared config or
credentials file and no AWS_* credential variables: a machine with no AWS configuration
at all works, and a user's real credentials never go to a loopback port. Any other
endpoint (None: AWS itself) gets boto3's ordinary credential chain.

The endpoint is, in order: the service's own AWS_ENDPOINT_URL_<SERVICE> variable, then
AWS_ENDPOINT_URL (botocore's names and order), then the one the caller configured (an
environment's settings, an instance document)."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

# The emulator accepts any keys; these only have to be well-formed.
EMULATOR_ACCESS_KEY_ID = "golden-emulator"
EMULATOR_SECRET_ACCESS_KEY = "golden-emulator"
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": EMULATOR_ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": EMULATOR_SECRET_ACCESS_KEY,
}


def is_loopback_endpoint(url: str | None) -> bool:
    """Loopback by address, or the name localhost. A name that merely starts with 127.
    (127.0.0.1.example.com) resolves wherever its owner wants, so it does not count."""
    try:
        host = urlsplit(url or "").hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(service: str, configured: str | None = None) -> str | None:
    """The endpoint URL a client for ``service`` (boto3's name: "ec2", "elbv2", ...) uses:
    AWS_ENDPOINT_URL_<SERVICE ID> (e.g. AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2), then
    AWS_ENDPOINT_URL, then ``configured``; None means AWS's own endpoint."""
    from botocore.configprovider import ConfiguredEndpointProvider

    from_env = ConfiguredEndpointProvider(
        full_config={}, scoped_config={}, client_name=service, environ=os.environ
    ).provide()
    return from_env or configured or None


def session(endpoint: str | None, *, emulator: bool | None = None):
    """A boto3 session for clients of ``endpoint``: isolated with dummy keys for the
    emulator, the ordinary one otherwise. ``emulator`` None: the emulator is whatever
    listens on loopback; True where the caller knows (an instance document names an
    endpoint only for the local emulator, which the twin reaches by a network name)."""
    import boto3

    if not (is_loopback_endpoint(endpoint) if emulator is None else emulator):
        return boto3.session.Session()
    import botocore.session

    core = botocore.session.Session()
    store = core.get_component("config_store")
    # Overrides in the config store win over AWS_PROFILE, AWS_CONFIG_FILE and
    # AWS_SHARED_CREDENTIALS_FILE: the user's files are never read.
    for name, value in (
        ("profile", None),
        ("config_file", os.devnull),
        ("credentials_file", os.devnull),
    ):
        store.set_config_variable(name, value)
    return boto3.session.Session(
        botocore_session=core,
        aws_access_key_id=EMULATOR_ACCESS_KEY_ID,
        aws_secret_access_key=EMULATOR_SECRET_ACCESS_KEY,
    )


def client(service: str, *, region: str, endpoint: str | None = None, config=None):
    """A boto3 client for ``service`` in ``region``; ``endpoint`` is the configured one
    (resolve_endpoint decides the one used). ``config``: a botocore Config or None."""
    url = resolve_endpoint(service, endpoint)
    kwargs = {"region_name": region}
    if url:
        kwargs["endpoint_url"] = url
    if config is not None:
        kwargs["config"] = config
    return session(url).client(service, **kwargs)
