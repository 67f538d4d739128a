"""The REST API under /api/v1 (JSON, bearer tokens, OpenAPI 3 at /api/v1/openapi.json).

flask-smorest builds the OpenAPI document from the blueprints and their marshmallow schemas.
Handlers stay thin: parse the request, call services (scoping through services.access, one
place), serialize; a successful request is committed once. Errors are always
`{"error": {"code", "message"}}` (see errors.py).
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import errors
from .schemas import Error

SETTINGS = {
    "API_TITLE": "Samoe API",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}

DESCRIPTION = (
    "Case work for the partner agencies of the Samoe programme. Every request carries an "
    "API token (`Authorization: Bearer smo_...`, made with `flask create-token`). An officer "
    "sees the cases of their area and agency (supervisors: every agency of their area); a "
    "case outside the caller's scope answers 404, exactly like a missing one. Errors are "
    "`{\"error\": {\"code\": ..., \"message\": ...}}`, in the language of Accept-Language.")


class SamoeApi(Api):
    """flask-smorest's Api with Samoe's error shape, and no app-wide handler of its own."""

    ERROR_SCHEMA = Error

    def _register_error_handlers(self):
        """Registered by `errors.register` instead (limited to /api/v1)."""


def init_app(app: Flask) -> None:
    """Mount the API on the app."""
    from . import agencies, announcements, cases, invitations, referrals, rights, stats

    for key, value in SETTINGS.items():
        app.config.setdefault(key, value)
    api = SamoeApi(spec_kwargs={
        "info": {"description": DESCRIPTION},
        "security": [{"bearerAuth": []}],
    })
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "smo_ token"})
    blueprints = (cases.bp, referrals.bp, invitations.bp, stats.bp, agencies.bp,
                  announcements.bp, rights.bp)
    errors.register(app)
    for bp in blueprints:
        api.register_blueprint(bp)
    app.extensions["samoe.api"] = api
