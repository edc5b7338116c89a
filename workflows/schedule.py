"""Every periodic job of the system, collected from the domains that declare them."""

from __future__ import annotations

from workflows import (
    auth,
    benefits,
    commitments,
    complaints,
    crisis,
    policies,
    privacy,
    reminders,
    risk,
    survey_exchange,
    surveys,
    team,
    visits,
)
from workflows.jobs import Job
from workflows.membership import events as membership_events
from workflows.payments import orders, payouts, refunds
from workflows.policy_service import (
    auto_renewal,
    collection,
    expiry,
    invoices,
    issuance,
    sum_insured,
)

SCHEDULE: tuple[Job, ...] = (
    *policies.JOBS,
    *reminders.JOBS,
    *surveys.JOBS,
    *visits.JOBS,
    *complaints.JOBS,
    *crisis.JOBS,
    *risk.JOBS,
    *auth.JOBS,
    *survey_exchange.JOBS,
    *orders.JOBS,
    *payouts.JOBS,
    *refunds.JOBS,
    *invoices.JOBS,
    *issuance.JOBS,
    *commitments.JOBS,
    *sum_insured.JOBS,
    *benefits.JOBS,
    *auto_renewal.JOBS,
    *collection.JOBS,
    *expiry.JOBS,
    *membership_events.JOBS,
    *privacy.JOBS,
    *team.JOBS,
)
