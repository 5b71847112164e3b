"""The policy a deployment chooses: header strictness, time windows, origins, rp id, guards."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import attrs

from archive_core.permissions import PermissionMatrix

__all__ = ["Policy", "UserVerification"]

UserVerification = Literal["required", "preferred", "discouraged"]


def _positive(instance: object, attribute: attrs.Attribute[timedelta], value: timedelta) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be positive")


@attrs.frozen(kw_only=True)
class Policy:
    """Configuration of the use cases. Every default is the SPEC's.

    - `require_app_id` / `require_nonce`: strict mode for the `X-DFNS-APPID` and
      `X-DFNS-NONCE` headers (by default each is validated when present only).
    - `nonce_window`: how far a nonce's date may lie from the server's clock.
    - `challenge_ttl` / `user_action_ttl`: lifetimes of challenges and user action tokens.
    - `key_origins`: allowed `origin` values for Key-kind clientData; empty means the
      origin is not checked for those kinds (SPEC §3).
    - `webauthn_origins`: allowed origins for Fido2 assertions (always checked).
    - `allow_cross_origin` / `allowed_top_origins`: WebAuthn cross-origin policy.
    - `lockout_guard`: refuse to archive (deactivate) the org's last active user who could
      archive (activate) a user of the target's kind under `matrix`;
      `lockout_counts_service_accounts` decides whether service accounts count as such.
    - `matrix`: the permission matrix — a preset's name (`dfns`, `dfns-delete`,
      `dfns-current`: the deployment gathers that preset's rows from the operations it
      serves, an embedder's own included) or a `PermissionMatrix` built by hand.
    """

    require_app_id: bool = False
    require_nonce: bool = False
    nonce_window: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive)
    challenge_ttl: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive)
    user_action_ttl: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive)
    rp_id: str = "localhost"
    rp_name: str = "archive-core"
    key_origins: frozenset[str] = frozenset()
    webauthn_origins: frozenset[str] = frozenset({"http://localhost"})
    user_verification: UserVerification = "required"
    allow_cross_origin: bool = False
    allowed_top_origins: frozenset[str] = frozenset()
    lockout_guard: bool = True
    lockout_counts_service_accounts: bool = False
    matrix: PermissionMatrix | str = "dfns"
    max_conflict_retries: int = 3
