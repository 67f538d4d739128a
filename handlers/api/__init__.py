"""The REST API under /api/v1 (JSON, bearer tokens, OpenAPI 3 at /api/v1/openapi.json)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Mount the API on the app."""
