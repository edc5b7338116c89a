"""Never ask a complainant for material the insurer already holds: a request for
information about a complaint on a claim is refused when it names documents already
uploaded to that claim (by checklist code, or by the checklist item's name in the text);
the handler is pointed to them (``held_documents``) instead.
"""

from __future__ import annotations

from collections.abc import Collection

from models.claims import Claim, ClaimDocument
from models.complaints import Complaint
from workflows import claims
from workflows.access import Actor, security
from workflows.complaints.rules import ComplaintError, ComplaintErrorCode

CODES_LIMIT = 20
CODE_LIMIT = 32
GENERIC = "OTHER"  # "其他材料": too vague to match by name


def clean_codes(codes: Collection[str]) -> list[str]:
    if len(codes) > CODES_LIMIT:
        raise ComplaintError(
            ComplaintErrorCode.TEXT_TOO_LONG, f"一次最多索要{CODES_LIMIT}项材料", "documents"
        )
    out = [code.strip().upper() for code in codes if code.strip()]
    if any(len(code) > CODE_LIMIT for code in out):
        raise ComplaintError(ComplaintErrorCode.TEXT_TOO_LONG, "材料代码过长", "documents")
    return list(dict.fromkeys(out))


async def held_documents(actor: Actor, complaint: Complaint) -> list[ClaimDocument]:
    """The documents already held for the complaint's claim, oldest first (the staff
    read is logged: they are the customer's papers)."""
    if complaint.claim_id is None:
        return []
    if actor.is_staff:
        security.info(
            "staff %s read documents of claim %s for complaint %s",
            actor.subject_id,
            complaint.claim_id,
            complaint.id,
        )
    return await ClaimDocument.filter(claim_id=complaint.claim_id).order_by("created_at")


async def refuse_held(complaint: Complaint, what: str, codes: Collection[str]) -> list[str]:
    """The names of the documents asked for; MATERIAL_HELD when any of them is held."""
    if complaint.claim_id is None:
        return list(codes)
    claim = await Claim.get(id=complaint.claim_id)
    names = {item["code"]: item["name"] for item in await claims.claim_checklist(claim)}
    held = set(
        await ClaimDocument.filter(claim_id=claim.id).values_list("checklist_code", flat=True)
    )
    asked = set(codes) | {
        code for code, name in names.items() if code != GENERIC and name and name in what
    }
    already = sorted(asked & held)
    if already:
        listed = "、".join(names.get(code, code) for code in already)
        raise ComplaintError(
            ComplaintErrorCode.MATERIAL_HELD,
            f"{listed}已在理赔案件{claim.report_number}中提交，请直接查阅（complaintHeldDocuments），"
            "不要向客户重复索要",
            "documents" if set(codes) & held else "text",
        )
    return [names.get(code, code) for code in codes]
