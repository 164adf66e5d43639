"""The scraping guard flags enumeration and leaves ordinary traffic alone."""

from nikgate.server.access.scraping import ScrapingGuard


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _guard(clock, alerts):
    return ScrapingGuard(window_items=5000, min_items=2000, cooldown=60, throttled_rate=10,
                         clock=clock, alert=lambda inst, why: alerts.append((inst, why)))


def test_mostly_misses_throttle_the_institution():
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    for _ in range(3):
        g.observe("bank-x", [str(3201010101010000 + i * 97) for i in range(1000)],
                  bytes([2] * 800 + [1] * 200))
    assert alerts and alerts[0][0] == "bank-x" and "not found" in alerts[0][1]
    assert g.throttled("bank-x")
    assert g.admit("bank-x", 1000) > 0          # big batches wait out the cooldown
    assert g.admit("bank-x", 5) == 0             # a trickle is still served
    clock.t += 61
    assert not g.throttled("bank-x") and g.admit("bank-x", 1000) == 0


def test_serial_walking_is_flagged_even_when_found():
    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    for b in range(3):
        base = 3201010101010000 + b * 1000
        g.observe("telco-y", [base + i for i in range(1000)], bytes([1] * 1000))
    assert alerts and "serial walking" in alerts[0][1]


def test_ordinary_traffic_is_not_flagged():
    import random

    clock, alerts = Clock(), []
    g = _guard(clock, alerts)
    rng = random.Random(3)
    for _ in range(20):
        niks = [rng.randrange(11 * 10**14, 96 * 10**14) for _ in range(1000)]
        g.observe("bank-z", niks, bytes([1] * 900 + [2] * 100))
    assert alerts == [] and not g.throttled("bank-z")
    assert g.admit("bank-z", 10_000) == 0
