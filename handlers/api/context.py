"""Per-request plumbing of the REST API: the bearer token, the acting officer, the one commit
per request, and loading the case or referral named in the URL (through services.access)."""

from __future__ import annotations

from flask import Response, g, request
from flask_babel import get_locale

from bot.extensions import db
from bot.thai_text import parse_reference
from models import Case, Referral
from services import access, accounts, workflow
from services.access import Actor
from services.queue import MAX_ID

from .errors import ApiError

REALM = 'Bearer realm="samoe"'


def authenticate() -> None:
    """before_request of every API blueprint: a valid bearer token, else 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if not header.strip():
        raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": REALM})
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token",
                       headers={"WWW-Authenticate": REALM + ', error="invalid_request"'})
    officer = accounts.officer_for_token(db.session, token.strip())
    if officer is None:
        raise ApiError(401, "invalid_token",
                       headers={"WWW-Authenticate": REALM + ', error="invalid_token"'})
    g.api_actor = Actor.for_officer(officer, via="api", ip=request.remote_addr,
                                    user_agent=request.headers.get("User-Agent"))


def finish(response: Response) -> Response:
    """after_request: commit what a successful request did (its change and its audit rows)
    in one transaction; anything else is rolled back. Says which language it answered in."""
    if response.status_code < 400:
        db.session.commit()
    else:
        db.session.rollback()
    response.headers.setdefault("Content-Language", str(get_locale() or "th"))
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def actor() -> Actor:
    return g.api_actor


def load_case(ref: str) -> Case:
    """The case a URL names (any form parse_reference accepts), if the caller may see it;
    404 `case_not_found` otherwise, the same whether it is missing or out of scope."""
    reference = parse_reference(ref)
    if reference is None:
        raise ApiError(404, "case_not_found")
    try:
        return access.get_case(db.session, actor(), reference)
    except access.NotFound:
        raise ApiError(404, "case_not_found") from None


def load_referral(referral_id: int) -> Referral:
    """The referral a URL names, if the caller may see its case; a referral to the caller's
    agency that a withdrawal of consent cancelled answers 409 `consent_withdrawn` (the case is
    out of their scope since); anything else 404 `referral_not_found`."""
    if not 0 < referral_id <= MAX_ID:
        raise ApiError(404, "referral_not_found")
    try:
        return access.get_referral(db.session, actor(), referral_id)
    except access.NotFound:
        workflow.refuse_cancelled(db.session, actor(), referral_id)
        raise ApiError(404, "referral_not_found") from None
