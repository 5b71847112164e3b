"""System adapters: the clock and the randomness source the core reads through ports."""

from adapters.system.clocks import ManualClock, SystemClock
from adapters.system.randomness import SeededRandomness, SystemRandomness

__all__ = ["ManualClock", "SeededRandomness", "SystemClock", "SystemRandomness"]
