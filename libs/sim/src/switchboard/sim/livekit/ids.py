"""LiveKit's resource identifiers: a type prefix and twelve random characters, like the server's `guid`."""

from __future__ import annotations

import secrets
import string

ROOM = "RM_"
PARTICIPANT = "PA_"
TRACK = "TR_"
SIP_CALL = "SCL_"
DISPATCH = "AD_"

_ALPHABET = string.ascii_letters + string.digits


def new_sid(prefix: str) -> str:
    """A fresh identifier with `prefix` (the client SDK checks `PA_`/`TR_` prefixes)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))
