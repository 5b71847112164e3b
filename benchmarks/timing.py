"""Side-by-side timing: interleaved rounds, medians and spreads."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["Figure", "alternate", "compare", "p99", "per_call", "scale_figures"]


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


def p99(values: list[float]) -> float:
    """The 99th percentile (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def alternate(
    first: Callable[[int], float],
    second: Callable[[int], float],
    *,
    rounds: int,
    per_round: int,
    after_round: Callable[[list[int]], None] | None = None,
) -> tuple[list[float], list[float], list[float]]:
    """`first(i)` and `second(i)` (each answering its own seconds) for each index `i` of a
    round (`round * per_round + j`), one after the other, which goes first swapping each
    round, the garbage collector off while a round runs; `after_round(indices)` after each
    (untimed). Round -1 warms caches up and is not kept. Both sides' samples, and each
    round's ratio of p99s (second ÷ first)."""
    firsts: list[float] = []
    seconds: list[float] = []
    ratios: list[float] = []
    for r in range(-1, rounds):
        a: list[float] = []
        b: list[float] = []
        indices = [r * per_round + j for j in range(per_round)]
        gc.collect()
        gc.disable()
        try:
            for i in indices:
                if r % 2 == 0:
                    a.append(first(i))
                    b.append(second(i))
                else:
                    b.append(second(i))
                    a.append(first(i))
        finally:
            gc.enable()
        if after_round is not None:
            after_round(indices)
        if r < 0:
            continue
        firsts += a
        seconds += b
        ratios.append(p99(b) / p99(a))
    return firsts, seconds, ratios


def scale_figures(
    ratio: str, sample: str, small: list[float], big: list[float], ratios: list[float]
) -> dict[str, float]:
    """A scale figure (`ratio`: p99 of `big` ÷ p99 of `small`), its per-round spread, and
    both sides' p99s and medians in µs (named `<sample>_p99_small_us`, ...)."""
    return {
        ratio: p99(big) / p99(small),
        f"{ratio}_round_median": statistics.median(ratios),
        f"{ratio}_round_min": min(ratios),
        f"{ratio}_round_max": max(ratios),
        f"{sample}_p99_small_us": p99(small) * 1e6,
        f"{sample}_p99_large_us": p99(big) * 1e6,
        f"{sample}_median_small_us": statistics.median(small) * 1e6,
        f"{sample}_median_large_us": statistics.median(big) * 1e6,
    }
