"""The ASGI entry point for servers (gunicorn, uvicorn): settings come from the environment."""

from .main import create_app

app = create_app()
