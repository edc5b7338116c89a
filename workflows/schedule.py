"""Every periodic job of the system, collected from the domains that declare them."""

from __future__ import annotations

from workflows import (
    auth,
    complaints,
    crisis,
    policies,
    reminders,
    survey_exchange,
    surveys,
    visits,
)
from workflows.jobs import Job
from workflows.membership import events as membership_events
from workflows.payments import orders, payouts, refunds
from workflows.policy_service import invoices, issuance

SCHEDULE: tuple[Job, ...] = (
    *policies.JOBS,
    *reminders.JOBS,
    *surveys.JOBS,
    *visits.JOBS,
    *complaints.JOBS,
    *crisis.JOBS,
    *auth.JOBS,
    *survey_exchange.JOBS,
    *orders.JOBS,
    *payouts.JOBS,
    *refunds.JOBS,
    *invoices.JOBS,
    *issuance.JOBS,
    *membership_events.JOBS,
)
