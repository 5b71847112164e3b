"""Benchmarks of archive-core against its floors and peers (`python -m benchmarks`).

Not shipped in the wheel. Every figure is a ratio measured side by side in one run,
reported as a median over interleaved rounds, because the machine is shared and noisy.
"""
