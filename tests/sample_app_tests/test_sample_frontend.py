"""The sample frontend on the host, in-process: a static export served with the cache
policy a Next.js export needs."""

from __future__ import annotations

import re

import pytest
from sample_frontend.server import SITE, create_app
from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def frontend():
    with TestClient(create_app()) as client:
        yield client


def test_health_answers_ok(frontend):
    response = frontend.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/", "/chat/", "/about/"])
def test_pages_are_html_that_browsers_revalidate(frontend, path):
    response = frontend.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


def test_every_asset_a_page_references_is_served_as_immutable(frontend):
    assets = set()
    for page in SITE.rglob("*.html"):
        assets.update(re.findall(r'(?:href|src)="(/_next/static/[^"]+)"', page.read_text()))
    assert assets, "the pages reference no hashed assets"
    for asset in sorted(assets):
        response = frontend.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_page_without_trailing_slash_redirects_to_it(frontend):
    response = frontend.get("/about", follow_redirects=False)
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/about/")


def test_unknown_path_gets_the_exported_404_page(frontend):
    response = frontend.get("/no/such/page")
    assert response.status_code == 404
    assert "could not be found" in response.text


def test_a_folder_without_index_html_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="no index.html"):
        create_app(tmp_path)
