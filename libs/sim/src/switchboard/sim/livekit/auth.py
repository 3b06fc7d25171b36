"""Access tokens as the LiveKit server checks them: an HS256 JWT issued by the API key, signed with its secret.

The signalling endpoint wants a `video` grant with `roomJoin` and a `room`; the Twirp services want
`roomCreate`/`roomAdmin`/`roomList` (RoomService), the `sip` grants (SIP) or `roomAdmin` (AgentDispatch).
Anything else is refused with 401, as the server does.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from livekit.api.access_token import Claims, TokenVerifier


class Unauthorized(Exception):
    """The token is missing, malformed, expired, signed with another secret or lacks the grant needed."""


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """The API key and secret the emulator accepts (one pair, like a self-hosted server's `keys:`)."""

    api_key: str = "devkey"
    api_secret: str = "devsecret-devsecret-devsecret-00"

    def verify(self, token: str | None) -> Claims:
        """The claims of `token`, or `Unauthorized` saying why it is refused."""
        if not token:
            raise Unauthorized("no authorization header or access_token")
        try:
            return TokenVerifier(self.api_key, self.api_secret).verify(token)
        except (jwt.PyJWTError, ValueError) as e:
            raise Unauthorized(f"invalid token: {e}") from e


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header (None if absent or of another scheme)."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_join(claims: Claims) -> str:
    """The room a signalling token may join; `Unauthorized` without `roomJoin` and a room."""
    video = claims.video
    if video is None or not video.room_join or not video.room:
        raise Unauthorized("the token has no roomJoin grant for a room")
    if not claims.identity:
        raise Unauthorized("the token has no identity")
    return video.room


def require_room_admin(claims: Claims, *, room: str = "", create: bool = False, list_: bool = False) -> None:
    """RoomService rules: `roomCreate` to create/delete, `roomList` to list, `roomAdmin` of `room` otherwise."""
    video = claims.video
    if video is None:
        raise Unauthorized("the token has no video grant")
    if create:
        allowed = bool(video.room_create)
    elif list_:
        allowed = bool(video.room_list)
    else:
        allowed = bool(video.room_admin) and (not room or video.room in ("", room))
    if not allowed:
        raise Unauthorized("the token lacks the RoomService grant for this call")


def require_sip(claims: Claims, *, call: bool) -> None:
    """SIP rules: `sip.call` to dial or transfer, `sip.admin` for trunks and rules."""
    sip = claims.sip
    if sip is None or not (sip.call if call else sip.admin):
        raise Unauthorized("the token lacks the SIP grant for this call")
