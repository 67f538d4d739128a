"""The inbox store and leases, directly on each database."""

from __future__ import annotations

from bot import inbox
from bot.extensions import db


def _event(event_id: str, user: str = "U" + "7" * 32, ts: int = 1) -> dict:
    return {"type": "follow", "webhookEventId": event_id, "timestamp": ts, "mode": "active",
            "source": {"type": "user", "userId": user}}


def test_store_counts_new_and_duplicate_events(app):
    with app.app_context():
        first = inbox.store_events(db.session, [_event("A"), _event("B"), _event("A")], None)
        again = inbox.store_events(db.session, [_event("B"), _event("C")], None)
        db.session.commit()
    assert (first.stored, first.duplicates) == (2, 1)
    assert (again.stored, again.duplicates) == (1, 1)


def test_a_lease_is_taken_once_until_released_or_expired(app):
    user = "U" + "8" * 32
    with app.app_context():
        assert inbox.acquire_lease(db.session, user, "w1", 30) is True
        assert inbox.acquire_lease(db.session, user, "w2", 30) is False
        assert inbox.extend_lease(db.session, user, "w2", 30) is False
        db.session.rollback()
        inbox.release_lease(db.session, user, "w2")  # not the holder: nothing happens
        assert inbox.acquire_lease(db.session, user, "w2", 30) is False
        inbox.release_lease(db.session, user, "w1")
        assert inbox.acquire_lease(db.session, user, "w2", -1) is True  # born expired
        assert inbox.acquire_lease(db.session, user, "w3", 30) is True
        db.session.remove()


def test_events_without_a_user_are_keyed_by_their_own_id():
    assert inbox.user_key_of({"webhookEventId": "E9", "source": None}) == "~E9"
    assert inbox.user_key_of({"webhookEventId": "E9",
                              "source": {"type": "room", "roomId": "R1"}}) == "R1"
