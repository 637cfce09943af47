"""This installation's VAPID key pair: configured, or generated once into the data directory."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid, Vapid01

from sportello.config import Settings

KEY_FILE = "vapid_private.pem"


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def load_vapid(settings: Settings) -> Vapid01:
    """The key from `SPORTELLO_VAPID_PRIVATE_KEY` (PEM, file path or base64url), else the data dir's.

    The data directory's key is created on first use, exclusively, so processes agree on one.
    """
    configured = settings.vapid_private_key
    if configured:
        if Path(configured).is_file():
            return Vapid.from_file(configured)
        return Vapid.from_string(configured)
    path = key_path(settings)
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        vapid = Vapid()
        vapid.generate_keys()
        try:
            with path.open("xb") as fh:
                fh.write(vapid.private_pem())
            path.chmod(0o600)
        except FileExistsError:
            pass
    return Vapid.from_file(str(path))


def application_server_key(vapid: Vapid01) -> str:
    """The public key as browsers want it for `pushManager.subscribe` (base64url, no padding)."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
