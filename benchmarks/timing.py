"""Side-by-side timing: interleaved rounds, medians and spreads."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["Figure", "compare", "per_call"]


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
