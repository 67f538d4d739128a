"""The audit log: who read or changed what, when and from where (DESIGN.md §4).

`record` adds a row in the caller's transaction, so a change and its audit row are committed
together. Reads of a case's personal data are recorded the same way, by the adapter that shows
them (the API, the console, LINE). The application never updates or deletes a row.

No personal text in a row: a search typed in the queue (`filters.q`, a child's name) is kept
only as its keyed hash and its length (`search_hash`), so an investigator given a name can still
ask "was this name searched, by whom, when" (`flask --app wsgi audit searched`) while an
erasure has nothing left to reach in the audit log. Free text (a reopening's reason) stays on
the case's timeline; the audit row names the timeline entry.

Integrity: `seal` chains the rows under a key the database does not hold (`AUDIT_CHAIN_KEY`,
set by `configure`). Rows are added without a seal (so recording never waits on a lock); the
worker seals them every few seconds in the order they were added: each gets the next
`seal_seq`, `prev_hash` (the previous sealed row's MAC) and `row_hash` = HMAC-SHA256 of its
sequence number, the previous MAC and its canonical content. Whoever can write to the
database but lacks the key cannot make a changed row, or a re-computed chain, pass.

The chain's head (its last `seal_seq` and MAC, when the chain started, itself MACed) is kept in
`service_state` under `HEAD_KEY` and moved by the sealer in the same transaction as the rows it
seals; the sealer logs it, so an operator can compare the head with the logs. `seal_seq` is
unique and the head is moved by a conditional UPDATE, so two sealers at the same moment cannot
fork the chain (the second one's transaction fails and seals nothing).

`verify` (`flask --app wsgi audit verify`) walks the chain and reports: a row whose content no
longer matches its MAC (`content_changed`), a link to a previous MAC that is not the previous
row's (`chain_broken`), a missing sequence number (`missing`), a head that was changed or
removed (`head_changed`, `head_missing`), rows removed from the end (`tail_missing`), a last
row that is not the head's (`head_mismatch`), sealed rows after the head (`beyond_head`), and
rows left unsealed for longer than a sealer would leave them (`unsealed_old`: slipped in
beside the application).

What the chain cannot show by itself: the database rolled back as a whole to an earlier,
consistent state (an old backup), or every seal and the head removed together (the sealer then
starts a new chain, and logs that it did). The head's `started_at`, `seal_seq` and MAC printed
by `verify` and logged by the sealer are there to be compared with the logs.

Rows sealed before the chain was keyed (unkeyed SHA-256, migration ff58f151ae27) had their
seals cleared by migration 0b7e4c1d2a9f: the sealer chains them again under the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from models import AuditEntry, Case, ServiceState, utcnow
from services.access import Actor

log = logging.getLogger(__name__)

GENESIS = "0" * 64
SEAL_BATCH = 1000
#: An unsealed row older than this was not added by the application (the worker seals often).
UNSEALED_SUSPICIOUS = dt.timedelta(hours=1)
#: The `service_state` row that holds the chain's head.
HEAD_KEY = "audit.chain_head"
#: The audit actions whose filters may carry a search text.
SEARCH_ACTIONS = ("case.list", "case.export")
_CHAIN = b"samoe audit chain v2"
_SEARCH = b"samoe audit search v1"
_HEAD = "samoe audit head v2"

_master: bytes | None = None


class AuditKeyError(RuntimeError):
    """No audit chain key is configured (AUDIT_CHAIN_KEY)."""


class ChainError(RuntimeError):
    """The chain cannot be extended: its head is missing, forged, or not its last row."""


def configure(key: str | bytes | None) -> None:
    """Set the process's audit key (bot.create_app, from AUDIT_CHAIN_KEY)."""
    global _master
    _master = (key.encode() if isinstance(key, str) else key) or None


def _subkey(purpose: bytes, key: str | bytes | None = None) -> bytes:
    master = key if key is not None else _master
    if isinstance(master, str):
        master = master.encode()
    if not master:
        raise AuditKeyError("no audit chain key is configured (AUDIT_CHAIN_KEY)")
    return hmac.new(master, purpose, hashlib.sha256).digest()


# -- recording -------------------------------------------------------------------------------

def search_hash(text: str, key: str | bytes | None = None) -> str:
    """The keyed hash of a search text, reduced as the queue searches it (spaces, case, titles
    such as "nong"), so the same name typed a little differently gives the same hash."""
    from services.cases import normalise_name  # services.cases records audit rows itself

    reduced = normalise_name(text)
    return hmac.new(_subkey(_SEARCH, key), reduced.encode(), hashlib.sha256).hexdigest()


def filters_detail(filters: dict, key: str | bytes | None = None) -> dict:
    """Queue filters as the audit log keeps them: a search text `q` replaced by `q_hash` and
    `q_length` (the characters typed)."""
    if filters.get("q") is None:
        return dict(filters)
    kept = {name: value for name, value in filters.items() if name != "q"}
    text = str(filters["q"]).strip()
    return {**kept, "q_hash": search_hash(text, key), "q_length": len(text)}


def record(session: Session, actor: Actor, action: str, case: Case | None = None,
           **detail) -> AuditEntry:
    """Add one audit row: `action` like `case.read`, `case.transition`, `token.create`.

    A `filters` detail holding a search text is stored through `filters_detail` (its hash,
    never the text)."""
    if isinstance(detail.get("filters"), dict):
        detail["filters"] = filters_detail(detail["filters"])
    entry = AuditEntry(
        at=utcnow(), actor=actor.name, actor_kind=actor.kind, action=action,
        case_id=case.id if case is not None else None,
        detail={"via": actor.via, **({"reference": case.reference} if case else {}), **detail},
        ip=actor.ip, user_agent=actor.user_agent,
    )
    session.add(entry)
    return entry


def searched(session: Session, text: str, key: str | bytes | None = None) -> list[AuditEntry]:
    """The audit rows of queue lists and exports that searched for `text` (compared by keyed
    hash), oldest first."""
    digest = search_hash(text, key)
    rows = session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action.in_(SEARCH_ACTIONS),
               sa.type_coerce(AuditEntry.detail, sa.Text).contains(digest))
        .order_by(AuditEntry.id))
    return [row for row in rows
            if ((row.detail or {}).get("filters") or {}).get("q_hash") == digest]


# -- the chain -------------------------------------------------------------------------------

def canonical(entry: AuditEntry) -> str:
    """A row's content as one stable string (what its MAC covers)."""
    at = entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return json.dumps([entry.id, at, entry.actor, entry.actor_kind, entry.action, entry.case_id,
                       entry.detail, entry.ip, entry.user_agent], ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"), default=str)


def row_mac(seq: int, previous: str, entry: AuditEntry, key: str | bytes | None = None) -> str:
    """HMAC-SHA256 of a row's place in the chain (its sequence number and the previous MAC)
    and its content."""
    message = f"{seq}\n{previous}\n{canonical(entry)}".encode()
    return hmac.new(_subkey(_CHAIN, key), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Head:
    """The chain's last sealed row as the sealer left it, and when the chain started."""

    seal_seq: int
    row_hash: str
    started_at: str
    mac: str

    def expected_mac(self, key: str | bytes | None = None) -> str:
        message = f"{_HEAD}\n{self.seal_seq}\n{self.row_hash}\n{self.started_at}".encode()
        return hmac.new(_subkey(_CHAIN, key), message, hashlib.sha256).hexdigest()

    def valid(self, key: str | bytes | None = None) -> bool:
        return hmac.compare_digest(self.mac, self.expected_mac(key))

    @classmethod
    def make(cls, seal_seq: int, row_hash: str, started_at: str,
             key: str | bytes | None = None) -> Head:
        unsigned = cls(seal_seq, row_hash, started_at, "")
        return cls(seal_seq, row_hash, started_at, unsigned.expected_mac(key))

    def as_text(self) -> str:
        return json.dumps({"seal_seq": self.seal_seq, "row_hash": self.row_hash,
                           "started_at": self.started_at, "mac": self.mac},
                          sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str | None) -> Head | None:
        """The head stored, or None when there is none; a value that is not a head reads as
        a head with no valid MAC (so verify reports it changed)."""
        if text is None:
            return None
        try:
            data = json.loads(text)
            return cls(int(data["seal_seq"]), str(data["row_hash"]), str(data["started_at"]),
                       str(data["mac"]))
        except (ValueError, TypeError, KeyError):
            return cls(-1, "", "", "")

    def public(self) -> dict:
        return {"seal_seq": self.seal_seq, "row_hash": self.row_hash,
                "started_at": self.started_at}


def _read_head(session: Session) -> tuple[Head | None, str | None]:
    """The head and its stored text (for the conditional update), or (None, None)."""
    text = session.scalar(sa.select(ServiceState.value).where(ServiceState.key == HEAD_KEY))
    return Head.from_text(text), text


def _chain_end(session: Session) -> tuple[Head | None, str | None, int, str | None]:
    """The head (and its stored text) and the last sealed row's number and MAC, read in one
    statement (one snapshot: a sealer committing meanwhile cannot make them disagree)."""
    last = (sa.select(AuditEntry.seal_seq, AuditEntry.row_hash)
            .where(AuditEntry.seal_seq.is_not(None))
            .order_by(AuditEntry.seal_seq.desc()).limit(1))
    row = session.execute(sa.select(
        sa.select(ServiceState.value).where(ServiceState.key == HEAD_KEY)
        .scalar_subquery().label("head"),
        last.with_only_columns(AuditEntry.seal_seq).scalar_subquery().label("seq"),
        last.with_only_columns(AuditEntry.row_hash).scalar_subquery().label("hash"))).one()
    return Head.from_text(row.head), row.head, row.seq or 0, row.hash


def seal(session: Session, limit: int = SEAL_BATCH, key: str | bytes | None = None) -> int:
    """Chain up to `limit` unsealed rows, in the order they were added, move the head, and
    commit. Returns how many were sealed (0 when another sealer won the race: nothing is
    forked). Raises ChainError, sealing nothing, when the head is missing while rows are
    sealed, fails its MAC, or is not the last sealed row: the chain is not extended over a
    break (`verify` says what it is)."""
    try:
        # the head first, then the rows: a sealer that read the head before another one's
        # commit and its rows after it numbers rows the other did not seal, from seal_seq
        # numbers the other took (its transaction then fails on the unique seal_seq)
        head, stored, last_seq, last_hash = _chain_end(session)
        rows = list(session.scalars(sa.select(AuditEntry).where(AuditEntry.seal_seq.is_(None))
                                    .order_by(AuditEntry.id).limit(limit)))
        if not rows:
            session.rollback()
            return 0
        if head is None:
            if last_seq:
                raise ChainError(f"the audit chain has sealed rows (up to {last_seq}) but no "
                                 "head: not sealing; run flask --app wsgi audit verify")
            seq, previous, started = 0, GENESIS, utcnow().isoformat(timespec="seconds")
        else:
            if not head.valid(key):
                raise ChainError("the audit chain's head fails its MAC: not sealing; run "
                                 "flask --app wsgi audit verify")
            if (head.seal_seq, head.row_hash) != (last_seq, last_hash):
                raise ChainError(f"the audit chain's head ({head.seal_seq}) is not its last "
                                 f"sealed row ({last_seq}): not sealing; run flask --app "
                                 "wsgi audit verify")
            seq, previous, started = head.seal_seq, head.row_hash, head.started_at
        for entry in rows:
            seq += 1
            entry.seal_seq, entry.prev_hash = seq, previous
            entry.row_hash = previous = row_mac(seq, previous, entry, key)
        new_head = Head.make(seq, previous, started, key)
        if head is None:
            session.add(ServiceState(key=HEAD_KEY, value=new_head.as_text()))
            session.flush()
        else:
            moved = session.execute(
                sa.update(ServiceState)
                .where(ServiceState.key == HEAD_KEY, ServiceState.value == stored)
                .values(value=new_head.as_text(), updated_at=utcnow())
                .execution_options(synchronize_session=False)).rowcount
            if moved != 1:  # another sealer moved it first
                session.rollback()
                return 0
        session.commit()
    except (IntegrityError, DBAPIError):  # another sealer took these numbers first
        session.rollback()
        return 0
    except ChainError:
        session.rollback()
        raise
    if head is None:
        log.warning("audit chain started at %s", started)
    log.info("audit chain head: seal_seq=%d row_hash=%s (%d row(s) sealed)", seq, previous,
             len(rows))
    return len(rows)


@dataclass
class Verification:
    checked: int = 0
    unsealed: int = 0
    head: dict | None = None
    problems: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "unsealed": self.unsealed,
                "head": self.head, "problems": self.problems[:50]}


def verify(session: Session, now: dt.datetime | None = None, batch: int = 5000,
           key: str | bytes | None = None) -> Verification:
    """Walk the chain in seal order up to its head and report every break.

    Each batch is read in a transaction of its own (no lock is held between batches on
    SQLite); sealed rows never change, and a head moved by a sealer meanwhile is followed."""
    now = now or utcnow()
    report = Verification()
    walk = _Walk(report, key)
    head, _ = _read_head(session)
    while True:
        target = head.seal_seq if head is not None and head.valid(key) else None
        walk.run(session, target, batch)
        beyond = (session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.seal_seq > target))
                  if target is not None else 0)
        again, _ = _read_head(session)
        session.rollback()
        if again == head:
            break
        head = again  # a sealer moved it while we walked: walk on to the new head
    report.head = head.public() if head is not None else None
    problems = report.problems
    if head is None:
        if walk.last_seq:
            problems.append({"problem": "head_missing", "last_seal_seq": walk.last_seq})
    elif not head.valid(key):
        problems.append({"problem": "head_changed"})
    elif walk.last_seq < head.seal_seq:
        problems.append({"problem": "tail_missing", "seal_seq": walk.last_seq + 1,
                         "head_seal_seq": head.seal_seq})
    elif walk.last_hash != head.row_hash:
        problems.append({"problem": "head_mismatch", "seal_seq": head.seal_seq})
    if beyond:
        problems.append({"problem": "beyond_head", "rows": beyond,
                         "head_seal_seq": head.seal_seq})
    unsealed = session.execute(
        sa.select(AuditEntry.id, AuditEntry.at).where(AuditEntry.seal_seq.is_(None))
        .order_by(AuditEntry.id)).all()
    session.rollback()
    report.unsealed = len(unsealed)
    for row_id, at in unsealed:
        if at < now - UNSEALED_SUSPICIOUS:
            problems.append({"id": row_id, "problem": "unsealed_old"})
    return report


class _Walk:
    """The chain walked so far: where it stopped, and what it found."""

    def __init__(self, report: Verification, key: str | bytes | None):
        self.report, self.key = report, key
        self.expected_seq, self.previous = 1, GENESIS
        self.last_seq, self.last_hash = 0, None

    def run(self, session: Session, target: int | None, batch: int) -> None:
        """Check the rows after the last one walked, up to `target` (None: all)."""
        problems = self.report.problems
        while True:
            statement = sa.select(AuditEntry).where(AuditEntry.seal_seq > self.last_seq)
            if target is not None:
                statement = statement.where(AuditEntry.seal_seq <= target)
            rows = list(session.scalars(statement.order_by(AuditEntry.seal_seq).limit(batch)))
            if not rows:
                return
            for entry in rows:
                if entry.seal_seq != self.expected_seq:
                    problems.append({"seal_seq": self.expected_seq, "problem": "missing",
                                     "next_found": entry.seal_seq})
                if entry.prev_hash != self.previous:
                    problems.append({"seal_seq": entry.seal_seq, "id": entry.id,
                                     "problem": "chain_broken"})
                expected = row_mac(entry.seal_seq, entry.prev_hash or "", entry, self.key)
                if not hmac.compare_digest(entry.row_hash or "", expected):
                    problems.append({"seal_seq": entry.seal_seq, "id": entry.id,
                                     "problem": "content_changed"})
                self.report.checked += 1
                self.expected_seq, self.previous = entry.seal_seq + 1, entry.row_hash or ""
                self.last_seq, self.last_hash = entry.seal_seq, entry.row_hash
            session.expunge_all()
            session.rollback()  # end this batch's read (SQLite: its lock) before the next
