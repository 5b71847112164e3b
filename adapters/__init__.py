"""Adapters: storage, crypto, transport and clocks plugged into the core's ports."""
