"""Session revocations on the event bus: every API process closes the WebSockets of a
session that ended (logout, a leaked refresh token reused, a disabled account) at once,
instead of letting them stream until the access token expires.

The announcement is an outbox event written in the transaction that revokes the session,
so only a committed revocation is announced, and one the bus missed (Redis down) is
announced when it is back. Its bus channel is the entity's, ``session:<id>``.
"""

from __future__ import annotations

import contextlib
import uuid

from push.bus import EventBus
from push.outbox import emit

SESSION_REVOKED = "session.revoked"


def session_channel(session_id: uuid.UUID) -> str:
    return f"session:{session_id}"


async def announce_session_revoked(session_id: uuid.UUID, reason: str) -> None:
    """Call inside the transaction that revokes the session."""
    await emit(
        SESSION_REVOKED,
        entity_type="session",
        entity_id=session_id,
        customer_id=None,  # no inbox entry, no push: only live sockets care
        payload={"reason": reason},
    )


async def wait_for_revocation(bus: EventBus, session_id: uuid.UUID) -> None:
    """Return when the session's revocation is announced (on any process)."""
    async with contextlib.aclosing(bus.subscribe(session_channel(session_id))) as events:
        async for event in events:
            if event.get("type") == SESSION_REVOKED:
                return
