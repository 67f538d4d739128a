"""The emulator's tables (all prefixed ``emu_``) on their own MetaData."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# An auto-incrementing 64-bit key; SQLite only auto-increments a column typed INTEGER.
_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

settings = sa.Table(
    "emu_settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

users = sa.Table(
    "emu_users",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("picture_url", sa.Text),
    sa.Column("followed", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

events = sa.Table(
    "emu_events",
    metadata,
    sa.Column("webhook_event_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(64)),
    sa.Column("event", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# What the chat page needs about an event besides the event itself (which is exactly what was
# signed and sent): the text the user's bubble showed (a postback's displayText, which LINE
# never sends to the bot) and how its last delivery to the webhook went.
event_deliveries = sa.Table(
    "emu_event_deliveries",
    metadata,
    sa.Column("webhook_event_id", sa.String(32), primary_key=True),
    sa.Column("display_text", sa.Text),
    sa.Column("status", sa.Integer),  # the webhook's HTTP status; None: not reached (or not yet)
    sa.Column("error", sa.Text),  # why it could not be reached
    sa.Column("delivered_at", sa.BigInteger),
)

reply_tokens = sa.Table(
    "emu_reply_tokens",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64)),
    sa.Column("webhook_event_id", sa.String(32), nullable=False),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
    sa.Column("used_at", sa.BigInteger),
)

contents = sa.Table(
    "emu_contents",
    metadata,
    sa.Column("message_id", sa.String(32), primary_key=True),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

retry_keys = sa.Table(
    "emu_retry_keys",
    metadata,
    sa.Column("retry_key", sa.String(36), primary_key=True),
    sa.Column("endpoint", sa.String(16), nullable=False),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("sent_messages", sa.JSON),
    sa.Column("accepted_at", sa.BigInteger, nullable=False),
)

sent = sa.Table(
    "emu_sent",
    metadata,
    sa.Column("seq", _Seq, primary_key=True, autoincrement=True),
    sa.Column("endpoint", sa.String(16), nullable=False),
    sa.Column("recipients", sa.JSON, nullable=False),
    sa.Column("messages", sa.JSON, nullable=False),
    sa.Column("sent_messages", sa.JSON),
    sa.Column("retry_key", sa.String(36)),
    sa.Column("reply_token", sa.String(64)),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
)

# One row per (sent item, recipient), so that ``GET /api/sent?user=U`` is an indexed query.
sent_recipients = sa.Table(
    "emu_sent_recipients",
    metadata,
    sa.Column("seq", _Seq, sa.ForeignKey("emu_sent.seq", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Index("ix_emu_sent_recipients_user_seq", "user_id", "seq"),
)

api_requests = sa.Table(
    "emu_requests",
    metadata,
    sa.Column("seq", _Seq, primary_key=True, autoincrement=True),
    sa.Column("endpoint", sa.String(16), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("retry_key", sa.Text),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index("ix_emu_requests_endpoint_seq", "endpoint", "seq"),
)

faults = sa.Table(
    "emu_faults",
    metadata,
    sa.Column("id", _Seq, primary_key=True, autoincrement=True),
    sa.Column("endpoint", sa.String(16), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("remaining", sa.Integer, nullable=False),
    sa.Column("delay", sa.Float, nullable=False),
    sa.Column("body", sa.JSON),
    sa.Column("phase", sa.String(8), nullable=False),
)

quota = sa.Table(
    "emu_quota",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("limit_value", sa.BigInteger),
    sa.Column("total_usage", sa.BigInteger, nullable=False),
)

# Rich menus: the menu as created (its request body), its image once uploaded, aliases, the
# default menu (one row, id 1) and the menu linked to each user.
richmenus = sa.Table(
    "emu_richmenus",
    metadata,
    sa.Column("richmenu_id", sa.String(64), primary_key=True),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("image_type", sa.String(32)),
    sa.Column("image", sa.LargeBinary),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

richmenu_aliases = sa.Table(
    "emu_richmenu_aliases",
    metadata,
    sa.Column("alias_id", sa.String(32), primary_key=True),
    sa.Column("richmenu_id", sa.String(64), nullable=False),
)

richmenu_links = sa.Table(
    "emu_richmenu_links",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("richmenu_id", sa.String(64), nullable=False),
    sa.Index("ix_emu_richmenu_links_menu", "richmenu_id"),
)

richmenu_default = sa.Table(
    "emu_richmenu_default",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("richmenu_id", sa.String(64), nullable=False),
)

richmenu_batches = sa.Table(
    "emu_richmenu_batches",
    metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("accepted_at", sa.BigInteger, nullable=False),
    sa.Column("completed_at", sa.BigInteger, nullable=False),
)

#: Tables emptied by ``POST /api/reset`` (children first). ``emu_settings`` is configuration.
STATE_TABLES = (
    richmenu_batches,
    richmenu_default,
    richmenu_links,
    richmenu_aliases,
    richmenus,
    sent_recipients,
    sent,
    api_requests,
    reply_tokens,
    event_deliveries,
    events,
    contents,
    retry_keys,
    faults,
    quota,
    users,
)
