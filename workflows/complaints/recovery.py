"""An unhappy answer to the complaint-service survey (sent at closure): the survey
workflow opens its recovery task (服务补救, a call back within 24 hours); here the task
is tied to the complaint, the complaint's staff timeline says so, and complaint
supervisors are told. The complaint itself stays closed: its regulatory clock and
answer are settled, and reopening would count it twice in the figures; the call back
is the supervisor's, and a new grievance from it is a new complaint (linked by the
repeat rule at intake)."""

from __future__ import annotations

import uuid

from models.complaints import Complaint
from models.surveys import RecoveryTask
from workflows.complaints.state import add_to_timeline, announce

SUPERVISORS = "staff:complaint-supervisors"
SUBJECT = "complaint:"


async def opened(open_key: str, subject: str, reason: str) -> None:
    """In the survey's transaction: once per task (the first unhappy answer)."""
    try:
        complaint_id = uuid.UUID(subject.removeprefix(SUBJECT))
    except ValueError:
        return
    complaint = await Complaint.get_or_none(id=complaint_id)
    if complaint is None:
        return
    tied = await RecoveryTask.filter(open_key=open_key, complaint_id=None).update(
        complaint_id=complaint.id
    )
    if not tied:
        return  # told already for this open task
    await add_to_timeline(
        complaint,
        None,
        "recovery_opened",
        complaint.status,
        complaint.status,
        f"满意度回访不满意（{reason}），已生成服务补救任务，由投诉主管回访",
        internal=True,
    )
    await announce(
        complaint,
        "complaint.recovery_opened",
        {"_staff_channels": [SUPERVISORS], "reason": reason},
    )
