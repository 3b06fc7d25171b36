"""Twilio request signatures (X-Twilio-Signature): computing them, and checking them as Twilio sends them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_HEADER = "x-twilio-signature"
"""The header Twilio signs webhooks and the Media Streams upgrade with (HTTP headers are case-insensitive)."""


def compute_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """base64(HMAC-SHA1(auth_token, url + each POST param's name and value, sorted by name))."""
    fields = params or {}
    payload = url + "".join(f"{name}{fields[name]}" for name in sorted(fields))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as configured, without a default port or with it, and with or without a trailing slash."""
    parts = urlsplit(url)
    variants = [url]
    secure = parts.scheme in ("https", "wss")
    default_port = 443 if secure else 80
    if parts.port is not None and parts.port == default_port:
        variants.append(urlunsplit(parts._replace(netloc=parts.hostname or "")))
    elif parts.port is None and parts.hostname:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.hostname}:{default_port}")))
    for variant in list(variants):
        variants.append(variant[:-1] if variant.endswith("/") else variant + "/")
    return variants


def is_valid_signature(
    auth_token: str, url: str, signature: str | None, params: Mapping[str, str] | None = None
) -> bool:
    """Whether `signature` signs `url` (as Twilio saw it) and `params` under `auth_token`.

    Twilio drops the default port before signing over HTTPS, and a trailing `/` differs between how a URL is
    written and how it arrives: each variant is tried, in constant time each.
    """
    if not signature:
        return False
    return any(
        hmac.compare_digest(compute_signature(auth_token, variant, params), signature)
        for variant in _url_variants(url)
    )
