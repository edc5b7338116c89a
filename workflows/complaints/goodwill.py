"""A goodwill payment's outcome, told by the payout workflow when the provider settles
it: on the complaint's timeline (the customer's when paid; staff's when it failed, with
the supervisors told, who may propose it again), never a change of the claim whose
account it was paid to. Kept apart from ``remedies`` so the payout workflow imports no
more of complaints than this."""

from __future__ import annotations

from models.complaint_remedies import ComplaintRemedy
from models.complaints import Complaint
from models.payments import Payout, PayoutStatus
from workflows.complaints.state import add_to_timeline, announce

SUPERVISORS = "staff:complaint-supervisors"


async def settled(payout: Payout, status: PayoutStatus, failure_reason: str | None) -> None:
    """In the payout's settling transaction (the caller saw it unsettled, under lock)."""
    remedy = await ComplaintRemedy.get(id=payout.remedy_id)
    complaint = await Complaint.get(id=remedy.complaint_id)
    if status is PayoutStatus.SUCCESS:
        await add_to_timeline(
            complaint,
            None,
            "goodwill_paid",
            complaint.status,
            complaint.status,
            f"补偿款{payout.amount}元已支付至{payout.payee_masked}",
        )
        await announce(complaint, "complaint.goodwill_paid", {"amount": f"{payout.amount:.2f}"})
        return
    await add_to_timeline(
        complaint,
        None,
        "goodwill_failed",
        complaint.status,
        complaint.status,
        f"补偿款{payout.amount}元支付失败：{failure_reason or '原因未知'}",
        internal=True,
    )
    await announce(
        complaint,
        "complaint.goodwill_failed",
        {"_staff_channels": [SUPERVISORS], "transfer_number": payout.transfer_number},
    )
