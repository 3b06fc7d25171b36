"""Room webhooks, signed as LiveKit signs them.

Each event is a `WebhookEvent` in protobuf JSON, POSTed as `application/webhook+json` with
`Authorization: <JWT>`: a token issued by the API key, signed with its secret, whose `sha256` claim is the
base64 SHA-256 of the body. `livekit.api.WebhookReceiver` accepts them. Deliveries are sequential per emulator
(events arrive in order) and each is kept in `deliveries`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

import aiohttp
from google.protobuf import json_format
from livekit.api.access_token import AccessToken
from livekit.protocol import webhook

from switchboard.sim.livekit.auth import ApiKeys
from switchboard.sim.livekit.participant import ParticipantState
from switchboard.sim.livekit.room import Room

logger = logging.getLogger(__name__)

TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook sent: the URL, the event, and the HTTP status (0 when the request failed)."""

    url: str
    event: webhook.WebhookEvent
    status: int


def signed_body(event: webhook.WebhookEvent, keys: ApiKeys) -> tuple[str, str]:
    """The JSON body of `event` and the `Authorization` header value that signs it."""
    body = json_format.MessageToJson(event, indent=None)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = AccessToken(keys.api_key, keys.api_secret).with_sha256(digest).to_jwt()
    return body, token


class Webhooks:
    """Posts room events to `urls`, in order, one at a time."""

    def __init__(self, session: aiohttp.ClientSession, keys: ApiKeys, urls: list[str]) -> None:
        self.urls = urls
        self.deliveries: list[Delivery] = []
        self._session = session
        self._keys = keys
        self._queue: asyncio.Queue[webhook.WebhookEvent] = asyncio.Queue()

    async def on_room_event(self, room: Room, event: str, participant: ParticipantState | None) -> None:
        """A room listener: queue the webhook of `event`."""
        if not self.urls:
            return
        message = webhook.WebhookEvent(
            event=event, room=room.info(), id="EV_" + uuid.uuid4().hex[:12], created_at=int(time.time())
        )
        if participant is not None:
            message.participant.CopyFrom(participant.to_proto())
        self._queue.put_nowait(message)

    async def run(self) -> None:
        """Deliver queued events until cancelled."""
        while True:
            event = await self._queue.get()
            for url in self.urls:
                self.deliveries.append(Delivery(url, event, await self._post(url, event)))

    async def _post(self, url: str, event: webhook.WebhookEvent) -> int:
        body, token = signed_body(event, self._keys)
        headers = {"Authorization": token, "Content-Type": "application/webhook+json"}
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as response:
                if response.status >= 300:
                    logger.info("webhook %s to %s answered %s", event.event, url, response.status)
                return response.status
        except (aiohttp.ClientError, TimeoutError) as e:
            logger.info("webhook %s to %s failed: %r", event.event, url, e)
            return 0
