"""Widget identity: a shop customer reference is trusted only with the shop's HMAC of it."""

from __future__ import annotations

import hashlib
import hmac


def customer_hmac(secret: str, customer_ref: str) -> str:
    """What the shop computes server-side: HMAC-SHA256(secret, customer_ref), lowercase hex."""
    return hmac.new(secret.encode(), customer_ref.encode(), hashlib.sha256).hexdigest()


def verified_customer_ref(secret: str | None, customer_ref: str | None, mac: str | None) -> str | None:
    """`customer_ref` when `mac` proves the shop vouched for it (constant-time), else None.

    Without a configured secret nothing can be proved, so no reference is trusted at all: a
    visitor could otherwise claim any customer's reference (and their VIP priority).
    """
    if not secret or not customer_ref or not mac:
        return None
    expected = customer_hmac(secret, customer_ref)
    if not hmac.compare_digest(expected, mac.strip().lower()):
        return None
    return customer_ref
