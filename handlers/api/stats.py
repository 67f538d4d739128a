"""/api/v1/stats: counts over the caller's scope."""

from __future__ import annotations

from dataclasses import asdict

from bot.extensions import db
from services import stats

from .base import ApiBlueprint
from .context import actor
from .schemas import StatsOut

bp = ApiBlueprint("stats", __name__, description="Figures over the caller's scope.")


@bp.route("/stats", methods=["GET"])
@bp.response(200, StatsOut)
@bp.errors()
def get_stats():
    """Case counts and the median time to a first action

    By stage, target group, owning agency, district and subdistrict, each with its overdue
    count; only the cases the caller may see are counted."""
    return asdict(stats.case_stats(db.session, actor()))
