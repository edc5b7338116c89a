"""How many photos decode at once, by what their pixels cost (issue 19).

A decoded photo sits whole in Pillow's C memory (4 bytes a pixel for RGB: 46 MiB for
12 MP, 183 MiB for 48 MP), more while it is rotated or converted. A plain count of
decodes bounds the peak only by count x the largest photo allowed; ``DecodeGate`` also
admits a decode only while the estimated bytes of all decodes in flight stay within a
budget, so the peak follows the budget whatever the photos' sizes: several phone photos
at once, a 48 MP one alone. One decode bigger than the whole budget still runs (alone),
so every accepted photo is processed. Waiting decodes are admitted first come, first
served: a big photo is not overtaken forever by small ones.

``on_idle`` runs when the last decode in flight ends with none waiting (the end of a
burst): the server hands the freed memory back to the system there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from anyio import Event


@dataclass(eq=False)
class _Ticket:
    cost: int
    admitted: bool = False
    event: Event = field(default_factory=Event)


class DecodeGate:
    """At most ``concurrency`` decodes, and their costs within ``budget_bytes``."""

    def __init__(
        self,
        concurrency: int,
        budget_bytes: int,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        if concurrency < 1 or budget_bytes < 1:
            raise ValueError("a decode gate needs a concurrency and a budget of at least 1")
        self.concurrency = concurrency
        self.budget_bytes = budget_bytes
        self.on_idle = on_idle
        self.running = 0
        self.in_use = 0  # estimated bytes of the decodes in flight
        self._waiting: deque[_Ticket] = deque()

    @asynccontextmanager
    async def admit(self, cost: int) -> AsyncIterator[None]:
        """Wait until a decode of ``cost`` bytes may run, and hold its share meanwhile."""
        ticket = _Ticket(cost)
        self._waiting.append(ticket)
        self._admit_waiting()
        try:
            await ticket.event.wait()
        except BaseException:  # cancelled while waiting, or just as it was admitted
            if ticket.admitted:
                self._release(ticket)
            else:
                self._waiting.remove(ticket)
                self._admit_waiting()  # the next in line may fit now
            raise
        try:
            yield
        finally:
            self._release(ticket)

    def _fits(self, ticket: _Ticket) -> bool:
        if self.running >= self.concurrency:
            return False
        return self.running == 0 or self.in_use + ticket.cost <= self.budget_bytes

    def _admit_waiting(self) -> None:
        while self._waiting and self._fits(self._waiting[0]):
            ticket = self._waiting.popleft()
            ticket.admitted = True
            self.running += 1
            self.in_use += ticket.cost
            ticket.event.set()

    def _release(self, ticket: _Ticket) -> None:
        self.running -= 1
        self.in_use -= ticket.cost
        self._admit_waiting()
        if self.running == 0 and not self._waiting and self.on_idle is not None:
            self.on_idle()
