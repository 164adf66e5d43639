"""Latency histograms: HdrHistogram (1 us to 60 s, 3 significant digits), mergeable."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


class Histogram:
    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)

    def record(self, us: int) -> None:
        self._h.record_value(min(us, HIGHEST_US))

    @property
    def count(self) -> int:
        return self._h.get_total_count()

    def encode(self) -> str:
        return self._h.encode().decode("ascii") if self.count else ""

    @classmethod
    def decode(cls, text: str) -> Histogram:
        h = cls()
        if text:
            h._h.decode_and_add(text)
        return h

    def add(self, other: Histogram) -> None:
        if other.count:
            self._h.add(other._h)

    def percentile_ms(self, p: float) -> float:
        return self._h.get_value_at_percentile(p) / 1000 if self.count else 0.0

    def summary_ms(self) -> dict[str, float]:
        if not self.count:
            return {}
        out = {f"p{p:g}": self.percentile_ms(p) for p in PERCENTILES}
        out["min"] = self._h.get_min_value() / 1000
        out["max"] = self._h.get_max_value() / 1000
        out["mean"] = self._h.get_mean_value() / 1000
        return out

    def buckets_ms(self, n: int = 10) -> list[tuple[float, int]]:
        """`n` equal-width buckets from min to max (upper bound ms, count), like ghz."""
        if not self.count:
            return []
        lo, hi = self._h.get_min_value(), self._h.get_max_value()
        width = max(1, (hi - lo) / n)
        counts = [0] * n
        for item in self._h.get_recorded_iterator():
            i = min(n - 1, int((item.value_iterated_to - lo) / width))
            counts[i] += item.count_added_in_this_iter_step
        return [((lo + width * (i + 1)) / 1000, c) for i, c in enumerate(counts)]

    def curve_ms(self) -> list[tuple[float, float]]:
        """(percentile, latency ms) along HDR's percentile iterator, for plots."""
        if not self.count:
            return []
        return [(item.percentile_level_iterated_to, item.value_iterated_to / 1000)
                for item in self._h.get_percentile_iterator(5)]
