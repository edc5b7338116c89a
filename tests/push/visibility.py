"""Queues for tests that check what the delivery queue was handed, and whether another
database connection could read each delivery the moment it was handed over."""

from __future__ import annotations

import uuid

from push.queue import InProcessQueue
from tests.conftest import visible_elsewhere


class RecordingQueue(InProcessQueue):
    def __init__(self) -> None:
        super().__init__()
        self.enqueued: list[uuid.UUID] = []

    async def enqueue(self, delivery_ids: list[uuid.UUID]) -> None:
        self.enqueued.extend(delivery_ids)
        await super().enqueue(delivery_ids)


class SeeingQueue(RecordingQueue):
    """Asks another database connection, the moment an id is enqueued, whether it can
    read the delivery (a delivery worker in another process would ask just that)."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.database_url = database_url
        self.seen: dict[uuid.UUID, bool] = {}

    async def enqueue(self, delivery_ids: list[uuid.UUID]) -> None:
        for delivery_id in delivery_ids:
            self.seen[delivery_id] = await visible_elsewhere(
                self.database_url, "delivery", delivery_id
            )
        await super().enqueue(delivery_ids)
