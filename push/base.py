"""What a push channel is: one method that sends one message to one target.

Errors say what to do next::

    DeliveryError
     ├── TransientDeliveryError   provider down, timeout, rate limit: retry with backoff
     ├── DeadTargetError          token unregistered (APNs 410, FCM UNREGISTERED): drop it
     └── PermanentDeliveryError   refused for good (bad template, invalid payload): stop
"""

from __future__ import annotations

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
