"""The public dashboard at /public (DESIGN.md §2, objective 7; issue #7 point 7): the
province's aggregate counts for anyone, without signing in, in Thai, with the app's own Thai
font and nothing from outside.

Only what services.public computes is shown: counts by district (by name, never a code),
by target group and stage, open and closed, every count from 1 to 4 shown as "<5" and enough
others hidden that none can be worked out (services.suppression). No names, villages,
references or codes. The figures are those of the day's cut-off, 00:00 in Khon Kaen,
counted once a day and stored (services.public: figures renewed every few minutes could be
compared to spot a child just reported); the page says of which day. Browsers and proxies may
keep the page PUBLIC_CACHE_SECONDS (default 300: Cache-Control: public, max-age), so the new
day's figures show within minutes of midnight. The page sets no cookie and reads none.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

from bot.extensions import db
from bot.i18n import force_locale
from bot.thai_text import thai_date, thai_time
from handlers.flows.my_cases import STAGE_WORDS
from handlers.flows.report import GROUPS
from models import BANGKOK
from services import public
from services.cases import STAGES, TARGET_GROUPS
from services.suppression import HIDDEN, SMALL, TOTAL

bp = Blueprint("public", __name__, url_prefix="/public", template_folder="templates",
               static_folder="static")

CSP = ("default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def cache() -> public.Cache:
    """This app's copy of the day's public figures (one per process)."""
    store = current_app.extensions.get("samoe.public")
    if store is None:
        store = current_app.extensions["samoe.public"] = public.Cache()
    return store


def max_age() -> int:
    return int(float(current_app.config.get("PUBLIC_CACHE_SECONDS", 300)))


def cell(table, row: str, col: str) -> dict:
    """How one figure is written: the number, "<5", or the hidden mark."""
    state = table.state.get((row, col))
    if state == SMALL:
        return {"kind": "small", "value": None}
    if state == HIDDEN:
        return {"kind": "hidden", "value": None}
    return {"kind": "shown", "value": table.value[(row, col)]}


@bp.get("", strict_slashes=False)
def dashboard():
    """The page (Thai)."""
    figures = cache().get(db.session, current_app.config.get("PROVINCE_CODE", "40"))
    db.session.remove()  # nothing stays open: the figures are plain values now
    with force_locale("th"):
        local = figures.as_of.astimezone(BANGKOK)
        html = render_template(
            "public/dashboard.html", f=figures, cell=cell, TOTAL=TOTAL, stages=STAGES,
            groups=TARGET_GROUPS, group_words={c.value: str(c.label) for c in GROUPS},
            stage_words={k: str(v) for k, v in STAGE_WORDS.items()},
            as_of_day=thai_date(local.date()), as_of_time=thai_time(local))
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = f"public, max-age={max_age()}"
    return response


@bp.get("/fonts/noto-sans-thai.ttf")
def font():
    """Noto Sans Thai from the installed font package (the console's font; no CDN)."""
    from emulator.chat import font_file

    response = Response(font_file()["data"], mimetype="font/ttf")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.after_request
def headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if current_app.config.get("SAMOE_ENV") == "production":  # served over HTTPS only
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    response.headers.setdefault("Cache-Control", f"public, max-age={max_age()}")
    return response
