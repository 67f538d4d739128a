"""Operations endpoints: /healthz, /readyz and /metrics (Prometheus text)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, redirect

from bot import ops

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)


@bp.get("/")
def index():
    """The front door: the emulator's chat page in development, a short status otherwise."""
    if current_app.config["LINE_EMULATOR"]:
        return redirect("/emulator/chat")
    return jsonify(service="samoe", health="/healthz", ready="/readyz")


@bp.get("/favicon.ico")
def favicon():
    """No icon: answer browsers without a 404 in the logs."""
    return "", 204


@bp.get("/healthz")
def healthz():
    """The process is up (says nothing about the database)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready to take traffic: database reachable, migrations current, inbox lag under limit."""
    checks = ops.readiness(current_app.config["INBOX_LAG_LIMIT"])
    ready = all(check["ok"] for check in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), (
        200 if ready else 503
    )


@bp.get("/metrics")
def metrics():
    """Prometheus metrics: inbox lag, outbox backlog, sends by result, quota."""
    return Response(ops.prometheus_text(), mimetype="text/plain; version=0.0.4")
