"""The per-call stream token: call-control issues it in the TwiML, media-edge checks it in `start`."""

from __future__ import annotations

import hashlib
import hmac


def stream_token(secret: str, call_id: str) -> str:
    """HMAC-SHA256 of the call id under the shared stream secret, hex."""
    return hmac.new(secret.encode(), call_id.encode(), hashlib.sha256).hexdigest()


def verify_stream_token(secret: str, call_id: str, token: str) -> bool:
    """Whether `token` was issued for `call_id` (constant-time comparison)."""
    return hmac.compare_digest(stream_token(secret, call_id), token)
