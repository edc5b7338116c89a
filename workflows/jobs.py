"""Periodic jobs, declared by each domain next to its workflow.

A domain module lists its jobs as ``JOBS = (Job(...), ...)``; ``workflows/schedule.py``
collects every domain's list into the one ``SCHEDULE``, and ``api/jobs.py`` runs exactly
that list in each mode (the worker, the embedded API process, ``anxin worker --once``).
A job gets the few dependencies jobs use (``JobDeps``), never the app's services.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from models.pii import PiiCipher
from payments.base import PaymentProvider, TransferProvider
from payments.invoicing import InvoiceProvider
from storage.base import ObjectStorage
from workflows.conversations.hours import WorkingHours

if TYPE_CHECKING:
    from workflows.benefits.partners import PartnerDirectory

MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class JobDeps:
    """What periodic jobs may use."""

    payment_providers: Mapping[str, PaymentProvider]
    transfer_providers: Mapping[str, TransferProvider]  # claim payouts
    pii: PiiCipher  # payout accounts are sealed
    storage: ObjectStorage
    notify_base_url: str  # where providers send their callbacks
    email_on: bool  # an e-mail channel is configured
    invoice_provider: InvoiceProvider | None = None  # e-invoices (None: not offered)
    # When agents work (the service commitment of answering within minutes counts in them).
    agent_hours: WorkingHours = field(default_factory=WorkingHours)
    partners: PartnerDirectory | None = None  # value-added service partners


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[JobDeps], Awaitable[object]]
    # Seconds after start-up before the first run (0: at once).
    first_after: float = 0
