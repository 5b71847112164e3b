"""Edges of the core that the scenario tests do not reach on their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import attrs
import pytest

from adapters.storage.memory import MemoryStore, MemoryUnitOfWork
from adapters.testing.world import ARCHIVE_OPS, Scene, World, b64
from archive_core.config import Policy
from archive_core.encoding import MalformedInput, parse_json
from archive_core.entities import CredentialKind, TokenKind, User, UserActionGrant, UserKind
from archive_core.errors import (
    ArchiveCoreError,
    Catalogue,
    ConcurrencyConflict,
    StorageUnavailable,
)
from archive_core.ids import CredentialUuid, OrgId, UserId
from archive_core.ports import UnitOfWorkFactory
from archive_core.requests import Headers, Request
from archive_core.use_cases import (
    ARCHIVE_USER,
    COMPLETE_USER_ACTION,
    INIT_USER_ACTION,
)
from archive_core.user_action import reverify_evidence
from tests.unit.helpers import WrappedUnitOfWork, refused

# --------------------------------------------------------------------------- header edges


def test_repeated_app_id_and_user_action_headers(scene: Scene) -> None:
    world = scene.world
    request = world.archive_request(scene.admin, scene.end_user.id)
    token = request.headers.values("x-dfns-useraction")[0]
    auth = ("Authorization", f"Bearer {scene.admin.token}")
    twice_app = Headers([auth, ("X-DFNS-APPID", "ap-a-b"), ("X-DFNS-APPID", "ap-a-b")])
    refused(
        Catalogue.APP_ID_INVALID,
        lambda: world.call(
            ARCHIVE_USER, attrs.evolve(request, headers=twice_app), scene.end_user.id
        ),
    )
    twice_ua = Headers([auth, ("X-DFNS-USERACTION", token), ("X-DFNS-USERACTION", token)])
    error = refused(
        Catalogue.USER_ACTION_INVALID,
        lambda: world.call(
            ARCHIVE_USER, attrs.evolve(request, headers=twice_ua), scene.end_user.id
        ),
    )
    assert error.reason == "user_action_repeated"


@pytest.mark.parametrize("token", ["", "é" * 10, "x" * 5000])
def test_malformed_user_action_header(scene: Scene, token: str) -> None:
    world = scene.world
    request = Request(
        "DELETE",
        f"/auth/users/{scene.end_user.id}",
        world.headers(scene.admin, **{"X-DFNS-USERACTION": token}),
    )
    refused(
        Catalogue.USER_ACTION_INVALID, lambda: world.call(ARCHIVE_USER, request, scene.end_user.id)
    )


def test_oversized_bearer_is_401(scene: Scene) -> None:
    world = scene.world
    request = Request(
        "DELETE", "/auth/users/us-a-b", Headers([("Authorization", "Bearer " + "a" * 9000)])
    )
    assert (
        refused(
            Catalogue.NOT_AUTHORIZED, lambda: world.call(ARCHIVE_USER, request, "us-a-b")
        ).reason
        == "bearer_too_long"
    )


def test_service_account_token_must_match_the_user(scene: Scene) -> None:
    world = scene.world
    now = world.clock.now()
    token = world.bearer.issue(
        scene.admin.user,
        now=now,
        ttl=timedelta(hours=1),
        token_kind=TokenKind.SERVICE_ACCOUNT,
    )
    impostor = attrs.evolve(scene.admin, token=token)
    error = refused(
        Catalogue.NOT_AUTHORIZED, lambda: world.archive_user(impostor, scene.end_user.id, token="x")
    )
    assert error.reason == "token_kind_mismatch"


@pytest.mark.parametrize("date", ["yesterday", "2026-13-01T00:00:00Z", "x" * 70])
def test_nonce_date_must_be_iso(scene: Scene, date: str) -> None:
    world = scene.world
    nonce = b64(json.dumps({"uuid": "nonce-0123456789", "date": date}).encode())
    refused(
        Catalogue.NONCE_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, extra={"X-DFNS-NONCE": nonce}),
    )


def test_a_genuine_token_that_was_never_recorded_is_403(scene: Scene) -> None:
    world = scene.world
    now = world.clock.now()
    path = f"/auth/users/{scene.end_user.id}"
    import hashlib

    grant = UserActionGrant(
        token_id="ua-never-recorded",
        user_id=scene.admin.user.id,
        org_id=scene.org,
        credential_uuid=scene.admin.user.credential_uuid,
        method="DELETE",
        path=path,
        payload_sha256=hashlib.sha256(b"").hexdigest(),
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
    )
    token = world.codec.issue(grant)
    error = refused(
        Catalogue.USER_ACTION_INVALID,
        lambda: world.archive_user(scene.admin, scene.end_user.id, token=token),
    )
    assert error.reason == "user_action_unknown"


# --------------------------------------------------------------------------- conflicts


class ConflictingUnitOfWork(WrappedUnitOfWork):
    """Raises ConcurrencyConflict from `users.update` while `remaining` > 0."""

    def __init__(self, inner: MemoryUnitOfWork, budget: list[int]) -> None:
        super().__init__(inner)
        self._budget = budget
        self.users = self

    def get(self, user_id: Any) -> Any:
        return self._inner.users.get(user_id)

    def add(self, user: Any) -> None:
        self._inner.users.add(user)

    def has_other_active_holder(self, *args: Any, **kwargs: Any) -> bool:
        return self._inner.users.has_other_active_holder(*args, **kwargs)

    def update(self, user: Any, *, expected_version: int) -> None:
        if self._budget[0] > 0:
            self._budget[0] -= 1
            raise ConcurrencyConflict(user.id)
        self._inner.users.update(user, expected_version=expected_version)


def _conflicting_world(conflicts: int) -> tuple[World, list[int]]:
    store = MemoryStore()
    budget = [0]
    world = World(
        uow_factory=cast(
            UnitOfWorkFactory, lambda: ConflictingUnitOfWork(MemoryUnitOfWork(store), budget)
        )
    )
    world.store = store
    budget[0] = conflicts
    return world, budget


def test_conflicts_are_retried_and_the_nonce_is_not_replayed_by_the_retry() -> None:
    world, budget = _conflicting_world(0)
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org)
    request = world.archive_request(
        admin, target.id, extra={"X-DFNS-NONCE": world.nonce("retried-nonce-01")}
    )
    budget[0] = 2
    assert world.call(ARCHIVE_USER, request, target.id)["isActive"] is False
    assert budget[0] == 0
    assert len(world.store.audit[org]) == 1


def test_conflicts_past_the_retry_budget_are_409() -> None:
    world, budget = _conflicting_world(0)
    org = world.new_org()
    admin = world.actor(org, operations=ARCHIVE_OPS)
    target = world.actor(org)
    request = world.archive_request(admin, target.id)
    budget[0] = 10
    refused(Catalogue.CONFLICT, lambda: world.call(ARCHIVE_USER, request, target.id))
    assert world.store.users[target.user.id].is_active
    budget[0] = 0
    assert world.call(ARCHIVE_USER, request, target.id)["isActive"] is False


# --------------------------------------------------------------------------- evidence


def test_fido2_evidence_reverifies_offline() -> None:
    world = World()
    org = world.new_org()
    admin = world.actor(org, full_admin=True, credential_kind=CredentialKind.FIDO2)
    target = world.actor(org)
    world.archive_user(admin, target.id)
    [evidence] = world.store.audit[org][0].evidence
    assert evidence.authenticator_data is not None
    reverify_evidence(evidence, world.verifiers)
    with pytest.raises(ArchiveCoreError) as incomplete:
        reverify_evidence(attrs.evolve(evidence, authenticator_data=None), world.verifiers)
    assert incomplete.value.reason == "evidence_incomplete"
    with pytest.raises(ArchiveCoreError) as malformed:
        reverify_evidence(attrs.evolve(evidence, signature="@@"), world.verifiers)
    assert malformed.value.reason == "evidence_malformed"
    with pytest.raises(ArchiveCoreError) as unsupported:
        reverify_evidence(evidence, {})
    assert unsupported.value.reason == "kind_not_supported"


def test_assertion_of_an_unsupported_kind() -> None:
    world = World()
    complete = world.handler(COMPLETE_USER_ACTION)
    world.replace_handler(COMPLETE_USER_ACTION, attrs.evolve(complete, verifiers={}))
    org = world.new_org()
    actor = world.actor(org)
    error = refused(Catalogue.ASSERTION_INVALID, lambda: world.user_action(actor, "DELETE", "/x"))
    assert error.reason == "kind_not_supported"


# --------------------------------------------------------------------------- small values


def test_escapes_and_surrogates_deep_inside_documents() -> None:
    inner = '{"k": ["\\ud800"]}, 1, null, "\\"["'
    text = "[" * 33 + inner + "]" * 33
    with pytest.raises(MalformedInput) as caught:
        parse_json(text, max_bytes=4096, max_depth=64)
    assert caught.value.reason == "json_lone_surrogate"
    ok = '{"a": ["\\u00e9\\"[[[[", {"b": "x"}]}'
    assert parse_json(ok, max_bytes=4096, max_depth=3) == {"a": ['é"[[[[', {"b": "x"}]}
    assert parse_json('["é"]', max_bytes=64) == ["é"]


def test_policy_windows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="nonce_window"):
        Policy(nonce_window=timedelta(0))


def test_errors_render_and_hide_nothing_they_should_not() -> None:
    error = ArchiveCoreError(Catalogue.NONCE_INVALID, reason="nonce_uuid")
    assert error.to_body("er-1") == {
        "error": {
            "id": "er-1",
            "message": "request nonce is missing or invalid",
            "status": 400,
            "code": "nonce_invalid",
            "reason": "nonce_uuid",
        }
    }
    assert "nonce_uuid" in repr(error)
    assert ArchiveCoreError(Catalogue.INTERNAL).to_body("er-2") == {
        "error": {
            "id": "er-2",
            "message": "Internal Server Error",
            "status": 500,
            "code": "internal_error",
        }
    }
    conflict = ArchiveCoreError(Catalogue.CONFLICT, details={"userId": "us-a-b"})
    assert conflict.to_body("er-3")["error"]["details"] == {"userId": "us-a-b"}
    codes = [kind.code for kind in Catalogue.all()]
    assert len(codes) == len(set(codes))


def test_storage_unavailable_names_its_store_and_the_drivers_error_class() -> None:
    error = StorageUnavailable(
        "no answer from db:5432", store="postgresql", driver_error="OperationalError"
    )
    assert (error.store, error.driver_error) == ("postgresql", "OperationalError")
    assert (StorageUnavailable().store, StorageUnavailable().driver_error) == ("", "")


def test_headers_never_show_their_values() -> None:
    headers = Headers.of({"Authorization": "Bearer secret-token"})
    assert "secret-token" not in repr(headers)
    assert headers.values("AUTHORIZATION") == ("Bearer secret-token",)


# --------------------------------------------------------------------------- decision logs


def test_each_archive_decision_is_logged_with_its_code_and_no_secret(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    world = scene.world
    caplog.set_level("INFO", logger="archive_core.decisions")
    request = world.archive_request(scene.admin, scene.end_user.id)
    world.call(ARCHIVE_USER, request, scene.end_user.id)
    with pytest.raises(ArchiveCoreError):
        world.call(ARCHIVE_USER, request, scene.end_user.id)
    records = [r for r in caplog.records if r.name == "archive_core.decisions"]
    assert [getattr(r, "code", None) for r in records] == ["archived", "user_action_replayed"]
    assert records[0].target == scene.end_user.id  # type: ignore[attr-defined]
    secrets_sent = [scene.admin.token, *request.headers.values("x-dfns-useraction")]
    for record in records:
        text = record.getMessage() + repr(record.__dict__)
        assert not any(secret in text for secret in secrets_sent)


def test_decisions_are_not_built_when_logging_is_off(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="archive_core.decisions")
    scene.world.archive_user(scene.admin, scene.end_user.id)
    assert not [r for r in caplog.records if r.name == "archive_core.decisions"]


def test_a_fido2_counter_that_moved_meanwhile_refuses_the_assertion() -> None:
    from archive_core.entities import CredentialKind as Kind
    from tests.unit.test_user_action_flow import _complete, _init, _signed

    world = World()
    actor = world.actor(world.new_org(), credential_kind=Kind.FIDO2)
    assert actor.credential is not None
    challenge = _init(world, actor)
    body = _signed(world, actor, challenge, sign_count=5)

    real_update = world.store.credentials.__setitem__
    original = MemoryUnitOfWork.__init__

    class Racing(MemoryUnitOfWork):
        def __init__(self, store: MemoryStore) -> None:
            original(self, store)
            inner = self.credentials.update_sign_count

            def raced(uuid: Any, *, new_count: int, expected_count: int) -> None:
                # another process stored counter 4 just before this unit of work writes
                current = store.credentials[uuid]
                real_update(uuid, attrs.evolve(current, sign_count=4))
                inner(uuid, new_count=new_count, expected_count=expected_count)

            self.credentials.update_sign_count = raced  # type: ignore[method-assign]

    complete = world.handler(COMPLETE_USER_ACTION)
    world.replace_handler(
        COMPLETE_USER_ACTION, attrs.evolve(complete, uow_factory=lambda: Racing(world.store))
    )
    error = refused(Catalogue.ASSERTION_INVALID, lambda: _complete(world, actor, body))
    assert error.reason == "sign_count_raced"


# --------------------------------------------------------------------------- User's next versions


@attrs.frozen
class _TeamUser(User):
    """An embedder's user with a field of its own."""

    team: str = "none"


@pytest.mark.parametrize("kind", [User, _TeamUser])
def test_each_next_version_changes_only_what_it_names(kind: type[User]) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    user = kind(
        id=UserId("us-1-1"),
        org_id=OrgId("or-1-1"),
        username="someone",
        kind=UserKind.END_USER,
        credential_uuid=CredentialUuid("cr-1-1"),
        is_service_account=False,
        is_registered=False,
        version=4,
        cut_off_at=at - timedelta(days=1),
    )
    expected = {
        "archived": attrs.evolve(user, is_active=False, archived_at=at, version=5),
        "deactivated": attrs.evolve(user, is_active=False, cut_off_at=at, version=5),
    }
    assert user.archived(at) == expected["archived"]
    assert user.deactivated(at) == expected["deactivated"]
    inactive = user.deactivated(at)
    assert inactive.activated() == attrs.evolve(inactive, is_active=True, version=6)
    assert type(user.archived(at)) is kind


# --------------------------------------------------------------------------- lean paths


def test_unknown_operation_is_a_programming_error_in_authorize_too() -> None:
    from archive_core.operations import DFNS_PRESET
    from archive_core.permissions import authorize

    with pytest.raises(KeyError, match="not in matrix"):
        authorize(DFNS_PRESET, "Nope", granted=frozenset(), full_admin=True, target_kind=None)


def test_header_step_called_on_its_own_finds_no_facts_in_no_headers(scene: Scene) -> None:
    # `Gate.screen` skips the step when neither header is sent; called directly (as an
    # embedder's own route may), it answers the shared empty facts.
    gate = scene.world.handler(INIT_USER_ACTION).gate
    facts = gate.check_headers(Headers(), now=scene.world.clock.now())
    assert facts.app_id is None and facts.nonce is None
    assert gate.check_headers(Headers(), now=scene.world.clock.now()) is facts
