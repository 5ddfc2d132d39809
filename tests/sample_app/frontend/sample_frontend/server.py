"""Serves the static export (site/) the way a Next.js `output: "export"` build is served.

Hashed assets under /_next/static/ never change for a given name, so browsers may keep them
for a year; HTML must be revalidated so a new release shows at once."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

SITE = Path(os.environ.get("SITE_DIR", Path(__file__).resolve().parent.parent / "site"))

IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"


class CacheHeaders:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        policy = IMMUTABLE if scope["path"].startswith("/_next/static/") else REVALIDATE

        async def send_with_policy(message):
            if message["type"] == "http.response.start" and message["status"] < 400:
                message["headers"] = [
                    *[(k, v) for k, v in message.get("headers", []) if k != b"cache-control"],
                    (b"cache-control", policy),
                ]
            await send(message)

        await self.app(scope, receive, send_with_policy)


async def health(request):
    return JSONResponse({"status": "ok", "service": "frontend"})


def create_app(site: Path = SITE) -> Starlette:
    if not (site / "index.html").is_file():
        raise RuntimeError(f"SITE_DIR {site} has no index.html: not a static export")
    app = Starlette(
        routes=[
            Route("/health", health),
            Mount("/", app=StaticFiles(directory=site, html=True), name="site"),
        ]
    )
    app.add_middleware(CacheHeaders)
    return app


app = create_app()
