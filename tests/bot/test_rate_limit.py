"""The multicast rate limit (bot.sender.RateLimit): never more than `rate` calls in any one
second, evenly paced, measured with a fake clock (no sleeping in tests)."""

from __future__ import annotations

from bot.sender import RateLimit, multicast_limit


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.calls: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_no_more_than_the_rate_in_any_one_second_window():
    clock = FakeClock()
    limit = RateLimit(200, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limit.wait()
        clock.calls.append(clock.now)
    calls = clock.calls
    for i, start in enumerate(calls):  # every window [t, t + 1)
        within = sum(1 for t in calls[i:i + 400] if t < start + 1 - 1e-9)
        assert within <= 200
    assert 4.99 <= calls[-1] <= 5.0  # 1,000 calls at 200/s: one every 5 ms


def test_an_idle_limiter_does_not_wait_and_zero_means_unlimited():
    clock = FakeClock()
    limit = RateLimit(5, clock=clock, sleep=clock.sleep)
    limit.wait()
    assert clock.now == 0.0  # the first goes at once
    limit.wait()
    assert abs(clock.now - 0.2) < 1e-9  # the next one a fifth of a second later
    clock.now += 10  # idle for a while: the next goes at once, and only one
    limit.wait()
    assert abs(clock.now - 10.2) < 1e-9
    unlimited = RateLimit(0, clock=clock, sleep=clock.sleep)
    before = clock.now
    for _ in range(10_000):
        unlimited.wait()
    assert clock.now == before


def test_one_limiter_per_process_and_rate():
    assert multicast_limit(200) is multicast_limit(200)
    assert multicast_limit(200) is not multicast_limit(100)
