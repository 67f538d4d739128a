"""The load generator of Samoe's benchmarks: HTTP/1.1 over asyncio (uvloop when installed).

One process, one core. It makes every request when it sends it: a LINE webhook body with one
text-message event whose webhookEventId, replyToken and message id are new, whose timestamp is
the moment of sending, signed with the channel secret (X-Line-Signature); or a reply call to the
emulator's `/v2/bot/message/reply` with a fresh reply token. Reply tokens are `prefix + index`
(32 hex digits): the harness registers that range in the emulator before the phase.

Two modes:
- closed: N connections, each sends its next request when the previous answer is in; the
  throughput and latency of the `duration` after `warmup` are reported.
- open: requests are scheduled at a fixed rate (t0 + i/rate) whatever the answers do, on a pool
  of connections; latency is measured from the scheduled time, so a stalled server is charged for
  the requests that wait behind it (no coordinated omission).

Usage: python bench/loadgen.py SPEC.json RESULT.json (both JSON; see `run` for the keys).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import os
import resource
import secrets
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field

BOT_USER_ID = "U5a10e0e1a0b0c0d0e0f0a1b2c3d4e5f6"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TEXT = "สวัสดีค่ะ อยากสอบถามเรื่องทุนเสมอภาคของลูกค่ะ"
REPLY_TEXT = "ขอบคุณค่ะ ได้รับข้อความแล้ว"
#: Every time taken here (uvloop's loop.time() only counts whole milliseconds).
clock = time.perf_counter


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(latencies_ms: list[float]) -> dict:
    """p50, p95, p99, max and mean of latencies in milliseconds."""
    values = sorted(latencies_ms)
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(values),
        "p50": round(percentile(values, 0.50), 3),
        "p95": round(percentile(values, 0.95), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(values[-1], 3),
        "mean": round(sum(values) / len(values), 3),
    }


def ulid(ms: int) -> str:
    """A 26-character ULID like LINE's webhookEventId: 48 bits of time, 80 random bits."""
    value = ((ms & ((1 << 48) - 1)) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def token_for(prefix: str, index: int) -> str:
    """Reply token number `index` of a phase: 16 hex digits of prefix, 16 of index."""
    return f"{prefix}{index:016x}"


def user_for(prefix: str, index: int) -> str:
    """LINE user id number `index`: 'U' and 32 hex digits."""
    return f"U{prefix}{index:016x}"


class Requests:
    """Builds one request at a time, each with new ids and a fresh signature."""

    def __init__(self, spec: dict):
        self.kind = spec["kind"]
        self.host = f"{spec['host']}:{spec['port']}"
        self.path = spec.get("path", "/callback")
        self.secret = spec["secret"].encode()
        self.token = spec.get("access_token", "")
        self.prefix = spec["token_prefix"]
        self.user_prefix = spec.get("user_prefix", "0" * 16)
        self.users = int(spec.get("users", 1000))
        self.message_base = secrets.randbelow(9 * 10**8) + 10**8  # 9 digits, then 9 of index
        self.max_events = int(spec.get("max_events", 10**12))
        self.next_index = 0

    def exhausted(self) -> bool:
        return self.next_index >= self.max_events

    def make(self) -> tuple[int, int, bytes]:
        """(index, timestamp ms, raw request) of the next request."""
        index = self.next_index
        self.next_index += 1
        now_ms = time.time_ns() // 1_000_000
        reply_token = token_for(self.prefix, index)
        if self.kind == "reply":
            body = json.dumps(
                {"replyToken": reply_token, "messages": [{"type": "text", "text": REPLY_TEXT}]},
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            head = (
                f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                "Content-Type: application/json\r\n"
                f"Authorization: Bearer {self.token}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            return index, now_ms, head.encode() + body
        event = {
            "type": "message",
            "message": {
                "type": "text",
                "id": f"{self.message_base}{index:09d}",
                "quoteToken": secrets.token_urlsafe(48),
                "text": TEXT,
            },
            "webhookEventId": ulid(now_ms),
            "deliveryContext": {"isRedelivery": False},
            "timestamp": now_ms,
            "source": {"type": "user", "userId": user_for(self.user_prefix, index % self.users)},
            "replyToken": reply_token,
            "mode": "active",
        }
        body = json.dumps(
            {"destination": BOT_USER_ID, "events": [event]},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        signature = base64.b64encode(hmac.new(self.secret, body, hashlib.sha256).digest())
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            "User-Agent: LineBotWebhook/2.0\r\n"
            f"X-Line-Signature: {signature.decode()}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return index, now_ms, head.encode() + body


#: An idle connection is not reused after this long (servers close idle keep-alive connections:
#: gunicorn after 2 s, Node after 5 s), so no request is lost to that race.
IDLE_REUSE_S = 1.0


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server closes it."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def request(self, raw: bytes) -> int:
        """Send one request and read the whole answer; return its status."""
        if self.writer is not None and clock() - self.last_used > IDLE_REUSE_S:
            self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = head.startswith(b"HTTP/1.0")
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                token = value.strip().lower()
                close = token == b"close" or (close and token != b"keep-alive")
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        self.last_used = clock()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Record:
    """What happened to the requests of a phase."""

    sent_at: list[float] = field(default_factory=list)  # monotonic, or scheduled (open loop)
    done_at: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)  # 0: no answer (error or timeout)
    events: list[tuple[int, int, int]] = field(default_factory=list)  # index, ts ms, status
    errors: Counter = field(default_factory=Counter)


async def one(conn: Connection, raw: bytes, timeout: float, record: Record) -> int:
    try:
        return await asyncio.wait_for(conn.request(raw), timeout)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            TimeoutError) as exc:
        record.errors[type(exc).__name__] += 1
        conn.close()
        return 0


async def closed_loop(spec: dict, requests: Requests, record: Record, t_end: float) -> None:
    timeout = float(spec.get("timeout", 10))

    async def client() -> None:
        conn = Connection(spec["host"], spec["port"])
        while not requests.exhausted():
            sent = clock()
            if sent >= t_end:
                break
            index, ts, raw = requests.make()
            status = await one(conn, raw, timeout, record)
            record.sent_at.append(sent)
            record.done_at.append(clock())
            record.status.append(status)
            record.events.append((index, ts, status))
        conn.close()

    await asyncio.gather(*(client() for _ in range(int(spec["connections"]))))


async def open_loop(spec: dict, requests: Requests, record: Record, t_start: float,
                    t_end: float) -> dict:
    timeout = float(spec.get("timeout", 10))
    rate = float(spec["rate"])
    max_conns = int(spec.get("connections", 256))
    idle: deque[Connection] = deque()
    slots = asyncio.Semaphore(max_conns)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()
    worst_lag = 0.0

    async def fire(scheduled: float) -> None:
        async with slots:
            conn = idle.pop() if idle else Connection(spec["host"], spec["port"])
            index, ts, raw = requests.make()
            status = await one(conn, raw, timeout, record)
            idle.append(conn)
        record.sent_at.append(scheduled)
        record.done_at.append(clock())
        record.status.append(status)
        record.events.append((index, ts, status))

    i = 0
    while not requests.exhausted():
        scheduled = t_start + i / rate
        if scheduled >= t_end:
            break
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        worst_lag = max(worst_lag, clock() - scheduled)
        task = loop.create_task(fire(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.wait(set(tasks), timeout=timeout + 5)
    for conn in idle:
        conn.close()
    return {"scheduled": i, "dispatch_lag_ms_max": round(worst_lag * 1000, 3)}


async def run(spec: dict) -> dict:
    """Run one phase from its spec and return the result (see the module docstring)."""
    requests = Requests(spec)
    record = Record()
    warmup = float(spec.get("warmup", 0))
    duration = float(spec["duration"])
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    first_ms = time.time_ns() // 1_000_000
    t_start = clock()
    t_measure = t_start + warmup
    t_end = t_measure + duration
    extra: dict = {}
    if spec["mode"] == "closed":
        await closed_loop(spec, requests, record, t_end)
    else:
        extra = await open_loop(spec, requests, record, t_start, t_end)
    wall = time.monotonic() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)

    latencies = []
    statuses: Counter = Counter()
    ok_in_window = 0
    for sent, done, status in zip(record.sent_at, record.done_at, record.status, strict=True):
        if sent < t_measure:
            continue
        statuses[status] += 1
        if status == 200:
            latencies.append((done - sent) * 1000)
            if done <= t_end:
                ok_in_window += 1
    measured = sum(statuses.values())
    result = {
        "mode": spec["mode"],
        "kind": spec["kind"],
        "connections": spec.get("connections"),
        "duration_s": duration,
        "warmup_s": warmup,
        "sent_total": len(record.status),
        "measured": measured,
        "ok": statuses.get(200, 0),
        "ok_total": sum(1 for status in record.status if status == 200),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(record.errors),
        "throughput_rps": round(ok_in_window / duration, 1),
        "latency_ms": summarise(latencies),
        "first_send_ms": first_ms,
        "generator_cpu_s": round(cpu, 3),
        "generator_cpu_share": round(cpu / wall, 3) if wall else None,
        "budget_exhausted": requests.exhausted(),
        **extra,
    }
    if spec["mode"] == "open":
        result["offered_rps"] = spec["rate"]
        result["achieved_rps"] = round(measured / duration, 1)
    if spec.get("record_events", True):
        result["events"] = record.events
        result["latencies_ms"] = [round(v, 3) for v in latencies]
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None:
        result = uvloop.run(run(spec))
    else:
        result = asyncio.run(run(spec))
    result["event_loop"] = "uvloop" if uvloop else "asyncio"
    tmp = argv[2] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    os.replace(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
