"""The client side of user action signing, as the official SDKs do it: init body,
challenge signature, completion body (for the demo, the benchmarks, embedders' tools)."""

from adapters.client.signer import KeySigner, init_body

__all__ = ["KeySigner", "init_body"]
