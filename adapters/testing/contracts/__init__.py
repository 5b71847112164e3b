"""The contract suites of the storage ports: one abstract pytest suite per port, which
every adapter — the shipped memory, SQLite, PostgreSQL and Redis ones, and yours —
subclasses with the one method that opens it (needs pytest: `archive-core[testing]`).

    class TestMyReplayGuard(ReplayGuardContract):
        @contextmanager
        def open(self, request):
            yield MyReplayGuard(...)   # fresh and empty; closed when the block ends

Optional hooks let a suite check more: `purge_every` with `stored` (or
`stored_user_actions`) checks that storage stays bounded; `serialised` that units of
work never conflict; `expires_by_itself` with `forgotten_within` for a backend that
expires entries on its own. `docs/adapters.md` walks through an example.
"""

from adapters.testing.contracts.challenge_store import ChallengeStoreContract
from adapters.testing.contracts.replay_guard import ReplayGuardContract
from adapters.testing.contracts.signing_key_store import SigningKeyStoreContract
from adapters.testing.contracts.unit_of_work import UnitOfWorkContract

__all__ = [
    "ChallengeStoreContract",
    "ReplayGuardContract",
    "SigningKeyStoreContract",
    "UnitOfWorkContract",
]
