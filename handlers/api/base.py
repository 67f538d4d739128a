"""The flask-smorest pieces every API blueprint shares: the parser (malformed JSON is a 400
`bad_json`), the token check, the one commit per request, the documented errors."""

from __future__ import annotations

from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from .context import authenticate, finish
from .errors import ApiError, register_on_blueprint
from .schemas import Error


class Parser(FlaskParser):
    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise ApiError(400, "bad_json")


class ApiBlueprint(Blueprint):
    """A blueprint of /api/v1: every route needs a bearer token; a successful request is
    committed once, after its view."""

    ARGUMENTS_PARSER = Parser()

    def __init__(self, name: str, import_name: str, **kwargs):
        kwargs.setdefault("url_prefix", "/api/v1")
        super().__init__(name, import_name, **kwargs)
        self.before_request(authenticate)
        self.after_request(finish)
        register_on_blueprint(self)

    def errors(self, *statuses: int):
        """Document the error answers of a route (they all share the Error schema)."""
        descriptions = {
            400: "Malformed request (e.g. a body that is not JSON).",
            401: "No valid bearer token.",
            404: "Not found, or outside the caller's scope.",
            403: "Not allowed for the caller's role.",
            409: "Conflicts with the state of the case, or not allowed for the caller.",
            422: "Invalid values.",
        }

        def decorator(func):
            for status in (401, *statuses):
                func = self.alt_response(status, schema=Error,
                                         description=descriptions[status])(func)
            return func

        return decorator
