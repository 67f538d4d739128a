"""The officer web console at /console (DESIGN.md §1 and §6): server-rendered pages that work
on an old office PC without JavaScript, in Thai (English switchable).

Login with a `create-user` account (argon2id; 5 failures lock the account for 15 minutes),
a signed session cookie (HttpOnly, SameSite=Lax, sent only to /console; Secure when
SESSION_COOKIE_SECURE is on, which SAMOE_ENV=production makes the default), ended by the
account's session number (signing out, a new password or scope, a deactivation), an idle
timeout, a CSRF token on every form and security headers on every answer (HSTS in
production). Pages: the case queue (filters, counts, sorting, keyset pages), a case (masked
personal data until revealed, timeline, referrals) and every case-work action of the API,
through the same domain services (services.access scopes, services.workflow changes,
services.audit records every read and change).
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint, Flask

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static")


def init_app(app: Flask) -> None:
    """Mount the console and set its session cookie's attributes."""
    # every module of this package adds its routes to bp: a new page is a new module
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")

    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # only the console uses the session: its cookie is not sent anywhere else
    app.config["SESSION_COOKIE_PATH"] = "/console"
    app.config.setdefault("CONSOLE_IDLE_MINUTES", 30.0)
    app.register_blueprint(bp)
