"""Domain errors: every refusal carries an HTTP status, an exact message and a stable code.

The messages of the API's error catalogue are reproduced verbatim (SPEC §4); the
library's own messages are listed in `docs/errors.md` and must stay stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "AlreadyExists",
    "ArchiveCoreError",
    "Catalogue",
    "ConcurrencyConflict",
    "ErrorKind",
    "StorageUnavailable",
]


@attrs.frozen
class ErrorKind:
    """One entry of the error catalogue: what the caller sees."""

    status: int
    code: str
    message: str
    when: str = ""
    origin: str = "library"

    def error(self, reason: str = "", *, message: str | None = None) -> ArchiveCoreError:
        """This refusal, with its machine-readable `reason` (and, rarely, a message built
        for the request, such as the permission denial's)."""
        return ArchiveCoreError(self, message=message, reason=reason)


class Catalogue:
    """Every error the library answers with, in one place (rendered into docs/errors.md)."""

    # --- from the API's error catalogue, verbatim (SPEC §4) ---
    NONCE_INVALID = ErrorKind(
        400,
        "nonce_invalid",
        "request nonce is missing or invalid",
        when="nonce required but absent, malformed, or dated outside the window",
        origin="api",
    )
    NONCE_REPLAYED = ErrorKind(
        400,
        "nonce_replayed",
        "request nonce has already been used",
        when="a nonce seen before, once its request is authenticated",
        origin="api",
    )
    USER_ACTION_REPLAYED = ErrorKind(
        400,
        "user_action_replayed",
        "user action has already been used",
        when="an X-DFNS-USERACTION token already consumed",
        origin="api",
    )
    NOT_AUTHORIZED = ErrorKind(
        401,
        "not_authorized",
        "Not Authorized.",
        when=(
            "missing, malformed, expired or forged bearer token; "
            "caller unknown, inactive, archived or in another org"
        ),
        origin="api",
    )
    PERMISSION_DENIED = ErrorKind(
        403,
        "permission_denied",
        "<Kind> <id> is not authorized to perform operation (<permissions>)",
        when="the permission matrix denies the operation",
        origin="api",
    )
    USER_ACTION_INVALID = ErrorKind(
        403,
        "user_action_invalid",
        "user action signature is missing or invalid",
        when="no, forged, expired or mismatched (caller, method, path, body) user action token",
        origin="api",
    )
    INTERNAL = ErrorKind(
        500,
        "internal_error",
        "Internal Server Error",
        when="anything unexpected (and nothing else)",
        origin="api",
    )
    USER_DEACTIVATED = ErrorKind(
        400,
        "user_deactivated",
        "User account has been deactivated.",
        when="user action init/complete by a deactivated user",
        origin="api",
    )
    CHALLENGE_INVALID = ErrorKind(
        400,
        "challenge_invalid",
        "Challenge token is not valid.",
        when="unknown, expired, foreign or reused challenge identifier",
        origin="api",
    )
    SIGNING_USER_NOT_FOUND = ErrorKind(
        401,
        "signing_user_not_found",
        "User not found",
        when="user action init/complete by an unknown or archived user",
        origin="api",
    )
    NO_USABLE_CREDENTIAL = ErrorKind(
        401,
        "no_usable_credential",
        "User does not have a credential that can be used for the application.",
        when=(
            "no active credential, or the assertion names one that is not the caller's, "
            "inactive, of another kind or not offered"
        ),
        origin="api",
    )

    # --- the library's own (SPEC §4 leaves the wording to us; stable once chosen) ---
    APP_ID_INVALID = ErrorKind(
        400,
        "app_id_invalid",
        "request app id is missing or invalid",
        when=(
            "X-DFNS-APPID required but absent, malformed, "
            "or not an active application of the caller's org"
        ),
        origin="library",
    )
    TARGET_NOT_FOUND = ErrorKind(
        404,
        "user_not_found",
        "User not found or already archived.",
        when="the target does not exist, is in another org, or is already archived",
        origin="library",
    )
    USER_ID_MALFORMED = ErrorKind(
        400,
        "user_id_malformed",
        "The user id is malformed.",
        when="the path's user id is not in canonical form",
        origin="library",
    )
    SELF_ARCHIVE = ErrorKind(
        400,
        "self_archive",
        "A user cannot archive itself.",
        when="the caller targets itself",
        origin="library",
    )
    SERVICE_ACCOUNT_TARGET = ErrorKind(
        400,
        "service_account_target",
        "Service accounts are archived through the service account endpoint.",
        when="the target is a service account",
        origin="library",
    )
    LAST_ARCHIVER = ErrorKind(
        400,
        "last_archiver",
        "Archiving this user would leave the org without an active user who can archive users.",
        when=(
            "the lock-out guard: the target is the org's last active user who could archive"
            " a user of its kind under the active matrix"
        ),
        origin="library",
    )
    SELF_DEACTIVATE = ErrorKind(
        400,
        "self_deactivate",
        "A user cannot deactivate itself.",
        when="the caller deactivates itself",
        origin="library",
    )
    SELF_ACTIVATE = ErrorKind(
        400,
        "self_activate",
        "A user cannot activate itself.",
        when="the caller activates itself",
        origin="library",
    )
    SERVICE_ACCOUNT_DEACTIVATE = ErrorKind(
        400,
        "service_account_deactivate",
        "Service accounts are deactivated through the service account endpoint.",
        when="deactivating a service account",
        origin="library",
    )
    SERVICE_ACCOUNT_ACTIVATE = ErrorKind(
        400,
        "service_account_activate",
        "Service accounts are activated through the service account endpoint.",
        when="activating a service account",
        origin="library",
    )
    SERVICE_ACCOUNT_UPDATE = ErrorKind(
        400,
        "service_account_update",
        "Service accounts are updated through the service account endpoint.",
        when="updating a service account",
        origin="library",
    )
    DIRECT_REGISTRATION = ErrorKind(
        400,
        "direct_registration",
        "Direct registration is not supported: this server sends no email; "
        "omit registration (Delegated).",
        when="Create User with registration Direct",
        origin="library",
    )
    EXTERNAL_ID_TAKEN = ErrorKind(
        409,
        "external_id_taken",
        "A user of the org was already created with this externalId, from another body.",
        when=(
            "Create User naming the externalId of a user of the org not archived with another "
            "email, kind or isSSORequired (details name that user)"
        ),
        origin="library",
    )
    PAGINATION_TOKEN_INVALID = ErrorKind(
        400,
        "pagination_token_invalid",
        "The pagination token is not valid.",
        when=(
            "List Users with a paginationToken this deployment did not issue (forged, "
            "truncated, of a retired key), or issued for another org or kind filter"
        ),
        origin="library",
    )
    LAST_ACTIVATOR = ErrorKind(
        400,
        "last_activator",
        "Deactivating this user would leave the org without an active user who can activate users.",
        when=(
            "the lock-out guard: the target is the org's last active user who could activate"
            " a user of its kind under the active matrix"
        ),
        origin="library",
    )
    ASSERTION_INVALID = ErrorKind(
        401,
        "assertion_invalid",
        "The credential assertion could not be verified.",
        when="a credential assertion fails a check (the reason names which)",
        origin="library",
    )
    FACTOR_NOT_SUPPORTED = ErrorKind(
        401,
        "factor_not_supported",
        "<Factor> credentials are not supported for user actions.",
        when="an assertion of the deprecated Password or Totp kind (the message names it)",
        origin="library",
    )
    BODY_INVALID = ErrorKind(
        400,
        "body_invalid",
        "The request body is invalid.",
        when="a field of a JSON body is missing or malformed (the message names it)",
        origin="library",
    )
    QUERY_INVALID = ErrorKind(
        400,
        "query_invalid",
        "The query is invalid.",
        when="an unknown, repeated, missing or malformed query parameter (the message names it)",
        origin="library",
    )
    AUDIT_ID_MALFORMED = ErrorKind(
        400,
        "audit_log_id_malformed",
        "The audit log id is malformed.",
        when="the path's audit log id is not in canonical form (`au-…`)",
        origin="library",
    )
    AUDIT_NOT_FOUND = ErrorKind(
        404,
        "audit_log_not_found",
        "Audit log not found.",
        when="no record of the caller's org has this id (another org's record included)",
        origin="library",
    )
    LOG_SIZE_INVALID = ErrorKind(
        400,
        "log_size_invalid",
        "The query is invalid: from must not be above the tree size.",
        when="a consistency proof asked from a size above the org's tree (the message names it)",
        origin="library",
    )
    CREDENTIAL_REJECTED = ErrorKind(
        400,
        "credential_rejected",
        "The credential's public key is not acceptable.",
        when="registering a credential whose public key is unacceptable",
        origin="library",
    )
    USERNAME_INVALID = ErrorKind(
        400,
        "username_invalid",
        "The username is not acceptable: <what>.",
        when=(
            "creating a user whose username is empty, longer than 254 characters, or holds "
            "a control, bidirectional control or non-printable character (the message "
            "names which, with its code point)"
        ),
        origin="library",
    )
    USERNAME_TAKEN = ErrorKind(
        409,
        "username_taken",
        "A user of the org already has this username.",
        when=(
            "creating a user whose username, compared with `str.casefold()`, a user of "
            "the org that is not archived already has"
        ),
        origin="library",
    )
    CONFLICT = ErrorKind(
        409,
        "conflict",
        "The user was changed by a concurrent request; retry the request.",
        when="concurrent changes outlasted the retries",
        origin="library",
    )
    UNAVAILABLE = ErrorKind(
        503,
        "unavailable",
        "Service Unavailable",
        when="the storage backend cannot be reached",
        origin="library",
    )

    LOG_UNSIGNED = ErrorKind(
        503,
        "log_unsigned",
        "The audit log is not signed by this server: it has no log key.",
        when="a checkpoint or proof asked of a server started without --log-key-file",
        origin="library",
    )
    LOG_TREE_DAMAGED = ErrorKind(
        503,
        "log_tree_damaged",
        "The audit log's Merkle tree does not match its records.",
        when="a subtree or a record's leaf is missing from the stored tree; an error is logged",
        origin="library",
    )
    LOG_SIGNING_REFUSED = ErrorKind(
        503,
        "log_signing_refused",
        "The log signer refused: the audit log does not extend the last tree head it signed.",
        when=(
            "the org's tree is smaller than, or inconsistent with, the last one the log key "
            "signed (the tables were cut or rewritten); an error is logged"
        ),
        origin="library",
    )

    # --- the transport's own (HTTP shell around the use cases) ---
    ROUTE_NOT_FOUND = ErrorKind(
        404,
        "route_not_found",
        "Not Found",
        when="no such route",
        origin="transport",
    )
    METHOD_NOT_ALLOWED = ErrorKind(
        405,
        "method_not_allowed",
        "Method Not Allowed",
        when="a known route, another method (Allow lists the right ones)",
        origin="transport",
    )
    BODY_TOO_LARGE = ErrorKind(
        413,
        "body_too_large",
        "The request body is too large.",
        when="a body over 64 KiB",
        origin="transport",
    )
    HEAD_TOO_LARGE = ErrorKind(
        431,
        "request_header_too_large",
        "The request header is too large.",
        when="a request head over 16 KiB or over 100 header lines",
        origin="transport",
    )
    JSON_MALFORMED = ErrorKind(
        400,
        "json_malformed",
        "The request body is not valid JSON.",
        when="a POST body that is not one strict JSON object",
        origin="transport",
    )

    @classmethod
    def all(cls) -> tuple[ErrorKind, ...]:
        """Every kind, in declaration order."""
        return tuple(v for v in vars(cls).values() if isinstance(v, ErrorKind))


class ArchiveCoreError(Exception):
    """A refusal the caller is allowed to see: status, exact message, stable code.

    `reason` is a machine-readable detail (e.g. which verification step failed);
    it never contains secrets or caller-provided values. `details`, when there is more
    to say (the existing user a conflicting create names), is a JSON object answered
    beside the message.
    """

    def __init__(
        self,
        kind: ErrorKind,
        *,
        message: str | None = None,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.status = kind.status
        self.code = kind.code
        self.message = kind.message if message is None else message
        self.reason = reason
        self.details = details
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"ArchiveCoreError({self.code!r}, {self.message!r}, reason={self.reason!r})"

    def to_body(self, error_id: str) -> dict[str, dict[str, Any]]:
        """The wire form of SPEC §4: `{"error": {"id", "message", "status", "code"[,
        "reason"][, "details"]}}`; `error_id` is the answer's own id, made by the server
        (it names the answer in the server's log)."""
        error: dict[str, Any] = {
            "id": error_id,
            "message": self.message,
            "status": self.status,
            "code": self.code,
        }
        if self.reason:
            error["reason"] = self.reason
        if self.details is not None:
            error["details"] = dict(self.details)
        return {"error": error}


class ConcurrencyConflict(Exception):
    """A storage adapter saw a concurrent change (version mismatch, serialization failure).

    Use cases retry a bounded number of times, then answer `Catalogue.CONFLICT`.
    """


class StorageUnavailable(Exception):
    """A storage adapter could not reach its backend; answered as 503.

    `store` names the backend (`sqlite`, `postgresql`, `redis`) and `driver_error` the
    driver's exception class: what an operator's log may show. The message may hold
    the driver's text, so it is never logged.
    """

    def __init__(self, message: str = "", *, store: str = "", driver_error: str = "") -> None:
        super().__init__(message)
        self.store = store
        self.driver_error = driver_error


class AlreadyExists(Exception):
    """A storage adapter was asked to add an entity whose id (or credId) is taken, or a
    user whose username (`usernames.username_key`) a user of its org not archived has."""
