"""Side-by-side timing: interleaved rounds, medians and spreads."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["Figure", "alternating_samples", "compare", "p99", "per_call", "scale_figures"]


@attrs.frozen
class Figure:
    """A median with its spread (min, max over rounds), in the unit given."""

    median: float
    low: float
    high: float
    unit: str

    def __str__(self) -> str:
        return f"{self.median:.4g} {self.unit} [{self.low:.4g}–{self.high:.4g}]"

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "unit": self.unit}


def per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of `fn` over `number` calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def compare(
    candidates: Mapping[str, Callable[[], object]],
    *,
    number: int,
    rounds: int,
    warmup: int = 1,
) -> dict[str, Figure]:
    """Time each candidate `number` times per round, interleaving candidates round by
    round so that load on the machine hits them alike; microseconds per call."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for round_index in range(warmup + rounds):
        for name, fn in candidates.items():
            seconds = per_call(fn, number)
            if round_index >= warmup:
                samples[name].append(seconds * 1e6)
    return {
        name: Figure(statistics.median(values), min(values), max(values), "µs")
        for name, values in samples.items()
    }


def ratio_figure(numerator: list[float], denominator: list[float]) -> Figure:
    """Per-round ratios of two interleaved series, summarised."""
    ratios = [n / d for n, d in zip(numerator, denominator, strict=True)]
    return Figure(statistics.median(ratios), min(ratios), max(ratios), "×")


def compare_ratio(
    ours: Callable[[], object],
    reference: Callable[[], object],
    *,
    number: int,
    rounds: int,
    warmup: int = 1,
) -> tuple[Figure, Figure, Figure]:
    """(ours µs, reference µs, ours ÷ reference per round) measured interleaved."""
    ours_samples: list[float] = []
    ref_samples: list[float] = []
    for round_index in range(warmup + rounds):
        a = per_call(ours, number) * 1e6
        b = per_call(reference, number) * 1e6
        if round_index >= warmup:
            ours_samples.append(a)
            ref_samples.append(b)

    def summary(values: list[float]) -> Figure:
        return Figure(statistics.median(values), min(values), max(values), "µs")

    return summary(ours_samples), summary(ref_samples), ratio_figure(ours_samples, ref_samples)


def alternating_samples(
    first: Callable[[int, int], float],
    second: Callable[[int, int], float],
    *,
    rounds: int,
    per_round: int,
    after_round: Callable[[int], None] | None = None,
) -> tuple[list[list[float]], list[list[float]]]:
    """Samples of two measurements taken alternately, sample by sample — which one goes
    first alternates round by round — with the garbage collector off within a round, so
    that machine noise hits both alike. `first(r, j)` and `second(r, j)` return the
    seconds of sample j of round r; `after_round(r)` runs untimed after each round. A
    warm-up round (r = -1) comes first and is not returned: the samples by round."""
    firsts: list[list[float]] = []
    seconds: list[list[float]] = []
    for r in range(-1, rounds):
        a: list[float] = []
        b: list[float] = []
        gc.collect()
        gc.disable()
        try:
            for j in range(per_round):
                if r % 2 == 0:
                    a.append(first(r, j))
                    b.append(second(r, j))
                else:
                    b.append(second(r, j))
                    a.append(first(r, j))
        finally:
            gc.enable()
        if after_round is not None:
            after_round(r)
        if r >= 0:
            firsts.append(a)
            seconds.append(b)
    return firsts, seconds


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def scale_figures(
    small_rounds: list[list[float]], large_rounds: list[list[float]], *, ratio: str, what: str
) -> dict[str, float]:
    """The figures of a scale comparison (`alternating_samples` of a small and a large
    size, in seconds): `ratio`, the p99 over all large samples ÷ over all small ones; its
    median, min and max over rounds (`ratio`_round_*); `what`_p99_*_us and
    `what`_median_*_us."""
    small = [t for samples in small_rounds for t in samples]
    large = [t for samples in large_rounds for t in samples]
    ratios = [p99(b) / p99(a) for a, b in zip(small_rounds, large_rounds, strict=True)]
    return {
        ratio: p99(large) / p99(small),
        f"{ratio}_round_median": statistics.median(ratios),
        f"{ratio}_round_min": min(ratios),
        f"{ratio}_round_max": max(ratios),
        f"{what}_p99_small_us": p99(small) * 1e6,
        f"{what}_p99_large_us": p99(large) * 1e6,
        f"{what}_median_small_us": statistics.median(small) * 1e6,
        f"{what}_median_large_us": statistics.median(large) * 1e6,
    }
