"""What a push channel is: one method that sends one message to one target.

Errors say what to do next::

    DeliveryError
     ├── TransientDeliveryError   provider down, timeout, rate limit: retry with backoff
     ├── DeadTargetError          token unregistered (APNs 410, FCM UNREGISTERED): drop it
     └── PermanentDeliveryError   refused for good (bad template, invalid payload): stop
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class PushMessage:
    kind: str
    title: str
    body: str
    deep_link: str
    mini_program_page: str
    urgent: bool
    collapse_id: str  # the event id: a resent message replaces, never doubles
    data: dict[str, Any] = field(default_factory=dict)  # display values of the event


class DeliveryError(Exception):
    pass


class TransientDeliveryError(DeliveryError):
    pass


class DeadTargetError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


class PushChannel(Protocol):
    async def send(self, target: str, message: PushMessage) -> str | None:
        """Send; return the provider's message id if it gives one."""
        ...


async def prepare(channel: PushChannel, targets: Sequence[str]) -> None:
    """``channel.prepare(targets)`` if it has one: a channel may read ahead, in one query,
    what sending to a batch's targets needs (the delivery worker calls it before sending
    a batch; ``send`` must still work for a target it was not prepared for). Wrappers
    pass it on."""
    method = getattr(channel, "prepare", None)
    if method is not None:
        await method(targets)
