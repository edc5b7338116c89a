"""Answers from the customer's own records, read through the API's access rules
(``visible_claims``, ``visible_policies``, ``visible_orders``, the claims workflow's
checklist and clocks): never another person's data, payee details only for the payee,
staff-only signals (fraud flags, notes) never read.

Each answer names the record (a citation) and the next step (an action). When several
records match and neither the question nor the customer's earlier messages say which,
the assistant asks back with one quick reply per record; the label carries the record's
number, so the customer's tap answers the question.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from tortoise.expressions import Subquery

from models.claims import Claim, ClaimStatus
from models.clock import local_date, local_today
from models.payments import Payout, PayoutStatus, Refund, RefundStatus
from models.policies import Policy, PolicyStatus, PremiumInstallment, ProductKind
from models.surveys import SurveyInvitation
from models.visits import FollowUpVisit, VisitStatus
from workflows import claims
from workflows.access import Actor, visible_claims, visible_orders, visible_policies
from workflows.assistant.contract import (
    ActionKind,
    Citation,
    CitationKind,
    SuggestedAction,
)
from workflows.assistant.intents import Intent
from workflows.assistant.slots import CLAIM_NUMBER, POLICY_NUMBER, product_kinds
from workflows.policies import GRACE_DAYS

S = ClaimStatus
R = TypeVar("R", Claim, Policy)
OPEN = frozenset(
    {
        S.REPORTED,
        S.DOCUMENTS_PENDING,
        S.SUBMITTED,
        S.UNDER_REVIEW,
        S.MORE_INFO_REQUESTED,
        S.APPROVED,
        S.PARTIALLY_APPROVED,
        S.PAYING,
    }
)
KIND_NAMES = {
    ProductKind.AUTO: "车险",
    ProductKind.HEALTH: "医疗险",
    ProductKind.ACCIDENT: "意外险",
    ProductKind.PROPERTY: "家财险",
    ProductKind.TRAVEL: "旅行险",
}
POLICY_STATUS_NAMES = {
    PolicyStatus.PENDING: "待生效",
    PolicyStatus.ACTIVE: "保障中",
    PolicyStatus.LAPSED: "已中止",
    PolicyStatus.EXPIRED: "已到期",
    PolicyStatus.CANCELLED: "已退保",
}
PAYOUT_NAMES = {
    PayoutStatus.AWAITING_APPROVAL: "待复核",
    PayoutStatus.PROCESSING: "转账处理中",
    PayoutStatus.WAIT_USER_CONFIRM: "待您在微信中确认收款",
    PayoutStatus.SUCCESS: "已到账",
    PayoutStatus.FAILED: "转账失败，我们会联系您更换账户后重新支付",
    PayoutStatus.CANCELLED: "已取消",
}
REFUND_NAMES = {
    RefundStatus.QUEUED: "排队处理中",
    RefundStatus.PROCESSING: "退款处理中",
    RefundStatus.SUCCESS: "已退回",
    RefundStatus.FAILED: "退款失败，客服会联系您",
}
NOT_A_CUSTOMER = "查询个人保单和理赔需要以客户身份登录App或小程序。"


def cn_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def yuan(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}元"


@dataclass
class Answer:
    """A personal answer before it becomes a ``Reply``."""

    text: str
    confidence: float = 0.9
    citations: list[Citation] = field(default_factory=list)
    actions: list[SuggestedAction] = field(default_factory=list)
    asked_back: bool = False


def _claim_title(claim: Claim) -> str:
    return f"理赔 {claim.report_number}"


def _loss_name(claim: Claim) -> str:
    for loss in claim.policy.product.loss_types:
        if loss["code"] == claim.loss_type:
            return str(loss["name"])
    return claim.loss_type


def _claim_label(claim: Claim) -> str:
    kind = KIND_NAMES[claim.policy.product.kind]
    return (
        f"{claim.report_number} {kind}·{_loss_name(claim)}（{claims.STATUS_NAMES[claim.status]}）"
    )


def _policy_label(policy: Policy) -> str:
    return f"{policy.number} {policy.product.name}（{POLICY_STATUS_NAMES[policy.status]}）"


def _numbers_in(texts: Sequence[str], pattern: object) -> list[str]:
    import re

    assert isinstance(pattern, re.Pattern)
    return [m.group(0).upper() for text in texts for m in pattern.finditer(text)]


def _narrow(
    items: Sequence[R], text: str, kind_of: Callable[[R], ProductKind], name_of: Callable[[R], str]
) -> list[R]:
    """Records whose product kind (or loss name) the text mentions; all if none does."""
    kinds = product_kinds(text)
    chosen = list(items)
    if kinds:
        by_kind = [item for item in items if kind_of(item) in kinds]
        if by_kind:
            chosen = by_kind
    named = [item for item in chosen if name_of(item) and name_of(item) in text]
    return named or chosen


def _claim_kind(claim: Claim) -> ProductKind:
    return claim.policy.product.kind


async def _claims(actor: Actor) -> list[Claim]:
    return list(
        await visible_claims(actor).select_related("policy__product").order_by("-created_at")
    )


async def _pick_claim(
    actor: Actor, text: str, history: Sequence[str], intent: Intent, wanted: frozenset[S]
) -> Claim | Answer:
    """The claim the customer means, or an answer (none, not found, which one?)."""
    mine = await _claims(actor)
    numbers = _numbers_in([text], CLAIM_NUMBER)
    if not mine and not numbers:
        return Answer(
            "您名下暂无理赔案件。如需报案，可点击下方「我要报案」。",
            0.9,
            actions=[SuggestedAction(ActionKind.REPORT_LOSS, "我要报案")],
        )
    if numbers:
        found = [c for c in mine if c.report_number in numbers]
        if not found:
            return Answer(
                f"没有找到报案号 {numbers[0]} 的案件，请核对报案号，或在「我的理赔」中查看。", 0.8
            )
        return found[0]
    candidates = [c for c in mine if c.status in wanted] or mine
    narrowed = _narrow(candidates, text, _claim_kind, _loss_name)
    if len(narrowed) == 1:
        return narrowed[0]
    for earlier in reversed(history):  # "which claim?" answered earlier in the conversation
        for number in _numbers_in([earlier], CLAIM_NUMBER):
            for claim in mine:
                if claim.report_number == number:
                    return claim
        narrowed_before = _narrow(candidates, earlier, _claim_kind, _loss_name)
        if len(narrowed_before) == 1 and len(candidates) > 1:
            return narrowed_before[0]
    options = narrowed[:5]
    return Answer(
        f"您有{len(narrowed)}个案件，请问要查询哪一个？",
        0.7,
        citations=[Citation(CitationKind.CLAIM, c.id, _claim_title(c)) for c in options],
        actions=[SuggestedAction(ActionKind.QUICK_REPLY, _claim_label(c)) for c in options],
        asked_back=True,
    )


def _claim_refs(claim: Claim) -> tuple[Citation, SuggestedAction]:
    return (
        Citation(CitationKind.CLAIM, claim.id, _claim_title(claim)),
        SuggestedAction(ActionKind.VIEW_CLAIM, "查看案件详情", claim.id, CitationKind.CLAIM),
    )


async def claim_progress(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    picked = await _pick_claim(actor, text, history, Intent.CLAIM_PROGRESS, OPEN)
    if isinstance(picked, Answer):
        return picked
    claim = picked
    citation, view = _claim_refs(claim)
    status = claims.STATUS_NAMES[claim.status]
    head = (
        f"您的{_claim_title(claim)}（{claim.policy.product.name}·{_loss_name(claim)}，"
        f"出险日期{cn_date(local_date(claim.loss_at))}）当前状态：{status}。"
    )
    parts = [head]
    actions: list[SuggestedAction] = []
    clock = claims.clocks(claim)
    if claim.status in (S.REPORTED, S.DOCUMENTS_PENDING, S.MORE_INFO_REQUESTED):
        missing = await claims.missing_documents(claim, await claims.claim_checklist(claim))
        if claim.status is S.MORE_INFO_REQUESTED:
            reason = f"（原因：{claim.more_info_reason}）" if claim.more_info_reason else ""
            parts.append(f"理赔人员请您补充：{'、'.join(missing)}{reason}。")
            parts.append("下一步：上传补充材料后案件会回到审核。")
        elif missing:
            parts.append(f"还缺材料：{'、'.join(missing)}。")
            parts.append("下一步：上传以上材料后提交理赔申请，提交后30日内作出核定。")
        else:
            parts.append("必需材料已齐，下一步：在案件详情中提交理赔申请。")
        actions.append(
            SuggestedAction(
                ActionKind.UPLOAD_DOCUMENTS, "上传缺少的材料", claim.id, CitationKind.CLAIM
            )
        )
    elif claim.status in (S.SUBMITTED, S.UNDER_REVIEW):
        assert clock.decision_due_at is not None
        parts.append(
            f"材料已于{cn_date(local_date(claim.submitted_at or claim.created_at))}提交，"
            f"按规定应在{cn_date(local_date(clock.decision_due_at))}前作出核定（材料齐全后30日内）。"
            "核定结果以理赔人员审核为准，有结果会第一时间通知您。"
        )
    elif claim.status in (S.APPROVED, S.PARTIALLY_APPROVED, S.PAYING):
        parts.append(f"核定赔付金额{yuan(claim.approved_amount)}。")
        if claim.pending_approval:
            parts.append("该金额超出理赔人员权限，正在等待上级复核。")
        elif clock.payment_due_at is not None:
            parts.append(f"赔款应在{cn_date(local_date(clock.payment_due_at))}前支付。")
        if claims.sees_payee(actor, claim) and not claim.payout_account_masked:
            parts.append("下一步：请在案件详情中选择收款账户。")
    elif claim.status in (S.PAID, S.CLOSED) and claim.paid_at is not None:
        parts.append(f"已于{cn_date(local_date(claim.paid_at))}支付赔款{yuan(claim.paid_amount)}。")
    elif claim.status is S.REJECTED or (claim.status is S.CLOSED and claim.rejection_reason):
        reason = claims.REJECTION_NAMES[claim.rejection_reason] if claim.rejection_reason else ""
        parts.append(f"核定结论为不予赔付，原因：{reason}。{claim.rejection_explanation or ''}")
        parts.append("如有异议，可补充新的证明材料申请复核，或转人工客服。")
    if clock.overdue:
        parts.append("该案件已超过规定的处理期限，我已为您标注，可点击「联系人工」催办。")
        actions.append(SuggestedAction(ActionKind.TALK_TO_AGENT, "联系人工"))
    actions.append(view)
    return Answer("".join(parts), 0.9, [citation], actions)


async def claim_documents(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    picked = await _pick_claim(
        actor,
        text,
        history,
        Intent.CLAIM_DOCUMENTS,
        frozenset({S.REPORTED, S.DOCUMENTS_PENDING, S.MORE_INFO_REQUESTED}),
    )
    if isinstance(picked, Answer):
        return picked
    claim = picked
    citation, view = _claim_refs(claim)
    checklist = await claims.claim_checklist(claim)
    missing = await claims.missing_documents(claim, checklist)
    if not missing:
        state = claims.STATUS_NAMES[claim.status]
        return Answer(
            f"您的{_claim_title(claim)}目前（{state}）不缺材料，无需补交。", 0.9, [citation], [view]
        )
    optional = [d["name"] for d in checklist if not d["required"]]
    extra = (
        f"可选提供：{'、'.join(optional)}。"
        if optional and claim.status is not S.MORE_INFO_REQUESTED
        else ""
    )
    upload = SuggestedAction(
        ActionKind.UPLOAD_DOCUMENTS, "上传缺少的材料", claim.id, CitationKind.CLAIM
    )
    return Answer(
        f"您的{_claim_title(claim)}（{_loss_name(claim)}）还需要：{'、'.join(missing)}。{extra}"
        "在App中拍照上传即可。",
        0.9,
        [citation],
        [upload, view],
    )


async def _unpaid(actor: Actor) -> list[tuple[PremiumInstallment, Policy]]:
    """Unpaid installments of policies the customer holds (only the holder pays)."""
    policies = {
        p.id: p
        for p in await visible_policies(actor)
        .filter(holder_id=actor.subject_id)
        .filter(status__in=[PolicyStatus.ACTIVE, PolicyStatus.PENDING, PolicyStatus.LAPSED])
        .select_related("product")
    }
    rows = await PremiumInstallment.filter(policy_id__in=list(policies), paid_at=None).order_by(
        "due_date", "sequence"
    )
    return [(row, policies[row.policy_id]) for row in rows]


def _pay(row: PremiumInstallment) -> SuggestedAction:
    return SuggestedAction(ActionKind.PAY_PREMIUM, "立即缴费", row.id, CitationKind.INSTALLMENT)


def _installment_line(row: PremiumInstallment, policy: Policy, today: date) -> str:
    line = (
        f"保单 {policy.number}（{policy.product.name}）第{row.sequence}期保费{yuan(row.amount)}，"
        f"缴费日{cn_date(row.due_date)}"
    )
    if row.due_date < today:
        grace_end = row.due_date + timedelta(days=GRACE_DAYS)
        line += f"，已逾期{(today - row.due_date).days}天（宽限期至{cn_date(grace_end)}）"
    return line


async def premium_due(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    today = local_today()
    unpaid = [(r, p) for r, p in await _unpaid(actor) if p.status is not PolicyStatus.LAPSED]
    numbers = _numbers_in([text], POLICY_NUMBER)
    if numbers:
        unpaid = [(r, p) for r, p in unpaid if p.number in numbers]
    else:
        kinds = product_kinds(text)
        if kinds and any(p.product.kind in kinds for _, p in unpaid):
            unpaid = [(r, p) for r, p in unpaid if p.product.kind in kinds]
    if not unpaid:
        return Answer("您作为投保人的保单目前没有待缴的保费。", 0.85)
    # The next installment of each policy, soonest first.
    firsts: dict[uuid.UUID, tuple[PremiumInstallment, Policy]] = {}
    for row, policy in unpaid:
        firsts.setdefault(policy.id, (row, policy))
    shown = sorted(firsts.values(), key=lambda rp: rp[0].due_date)[:3]
    lines = [_installment_line(row, policy, today) for row, policy in shown]
    head = "您最近一期待缴保费：" if len(shown) == 1 else "您有以下待缴保费（按缴费日排序）："
    return Answer(
        head + "；".join(lines) + "。可通过支付宝或微信支付在App中缴纳，点击「立即缴费」即可。",
        0.9,
        [
            Citation(CitationKind.INSTALLMENT, r.id, f"保单 {p.number} 第{r.sequence}期")
            for r, p in shown
        ]
        + [Citation(CitationKind.POLICY, p.id, f"保单 {p.number}") for _, p in shown],
        [_pay(row) for row, _ in shown],
    )


async def overdue_risk(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    today = local_today()
    overdue = [(r, p) for r, p in await _unpaid(actor) if r.due_date < today]
    if not overdue:
        return Answer("您的保单目前没有逾期未缴的保费，保障正常。", 0.85)
    parts, citations, actions = [], [], []
    seen: set[uuid.UUID] = set()
    for row, policy in overdue:
        if policy.id in seen:
            continue
        seen.add(policy.id)
        citations.append(Citation(CitationKind.POLICY, policy.id, f"保单 {policy.number}"))
        if policy.status is PolicyStatus.LAPSED:
            parts.append(
                f"保单 {policy.number}（{policy.product.name}）因第{row.sequence}期保费"
                f"（缴费日{cn_date(row.due_date)}）超过60天宽限期未缴，已中止（失效），"
                "中止期间发生的事故不予赔付；两年内可申请复效，请联系人工客服办理"
            )
            actions.append(SuggestedAction(ActionKind.TALK_TO_AGENT, "申请复效"))
        else:
            grace_end = row.due_date + timedelta(days=GRACE_DAYS)
            parts.append(
                f"保单 {policy.number}（{policy.product.name}）"
                f"第{row.sequence}期保费{yuan(row.amount)}"
                f"已逾期{(today - row.due_date).days}天，宽限期至{cn_date(grace_end)}，"
                "届时仍未缴纳保单将中止，请尽快缴费"
            )
            actions.append(_pay(row))
            citations.append(Citation(CitationKind.INSTALLMENT, row.id, f"第{row.sequence}期保费"))
    return Answer("；".join(parts) + "。", 0.9, citations, actions)


async def _policies(actor: Actor) -> list[Policy]:
    return list(await visible_policies(actor).select_related("product").order_by("ends_at"))


def _pick_policies(policies: list[Policy], text: str) -> list[Policy]:
    numbers = _numbers_in([text], POLICY_NUMBER)
    if numbers:
        return [p for p in policies if p.number in numbers]
    return _narrow(policies, text, lambda p: p.product.kind, lambda p: p.product.name)


async def policy_expiry(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    today = local_today()
    live = [
        p for p in await _policies(actor) if p.status in (PolicyStatus.ACTIVE, PolicyStatus.PENDING)
    ]
    chosen = _pick_policies(live, text)
    if not chosen:
        return Answer("您目前没有保障中的保单。", 0.85)
    lines, actions = [], []
    for policy in chosen[:5]:
        end = local_date(policy.ends_at)
        left = (end - today).days
        line = f"保单 {policy.number}（{policy.product.name}）保障至{cn_date(end)}，还有{left}天"
        if policy.product.renewable and left <= 30:
            line += "，已可续保"
            actions.append(
                SuggestedAction(
                    ActionKind.RENEW_POLICY, f"续保 {policy.number}", policy.id, CitationKind.POLICY
                )
            )
        elif not policy.product.renewable:
            line += "，该产品不能续保，到期后请重新投保"
        lines.append(line)
    actions += [
        SuggestedAction(ActionKind.VIEW_POLICY, f"查看保单 {p.number}", p.id, CitationKind.POLICY)
        for p in chosen[:2]
    ]
    return Answer(
        "；".join(lines) + "。",
        0.9,
        [Citation(CitationKind.POLICY, p.id, f"保单 {p.number}") for p in chosen[:5]],
        actions,
    )


async def coverage(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    live = [
        p for p in await _policies(actor) if p.status in (PolicyStatus.ACTIVE, PolicyStatus.PENDING)
    ]
    chosen = _pick_policies(live, text)
    if len(chosen) > 1:
        for earlier in reversed(history):
            before = _pick_policies(chosen, earlier)
            if len(before) == 1:
                chosen = before
                break
    if not chosen:
        return Answer("您目前没有保障中的保单。", 0.85)
    if len(chosen) > 1:
        options = chosen[:5]
        return Answer(
            f"您有{len(chosen)}张保障中的保单，请问要查看哪一张？",
            0.7,
            [Citation(CitationKind.POLICY, p.id, f"保单 {p.number}") for p in options],
            [SuggestedAction(ActionKind.QUICK_REPLY, _policy_label(p)) for p in options],
            asked_back=True,
        )
    policy = chosen[0]
    lines = []
    for item in await policy.coverages.all().order_by("position"):
        left = item.sum_insured - item.used_amount
        line = (
            f"{item.name}：保额{yuan(item.sum_insured)}，"
            f"已用{yuan(item.used_amount)}，剩余{yuan(left)}"
        )
        if item.deductible > 0:
            line += f"，免赔额{yuan(item.deductible)}"
        lines.append(line)
    return Answer(
        f"保单 {policy.number}（{policy.product.name}）的保障："
        + "；".join(lines)
        + "。具体赔付以条款和理赔核定为准。",
        0.9,
        [Citation(CitationKind.POLICY, policy.id, f"保单 {policy.number}")],
        [SuggestedAction(ActionKind.VIEW_POLICY, "查看保单详情", policy.id, CitationKind.POLICY)],
    )


async def payout_status(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    decided = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.PAYING, S.PAID, S.CLOSED})
    mine = [c for c in await _claims(actor) if c.status in decided and c.approved_amount > 0]
    if not mine:
        return Answer(
            "您目前没有已核定待支付或已支付的赔款。未核定的案件可以问我「理赔进度」。", 0.85
        )
    numbers = _numbers_in([text], CLAIM_NUMBER)
    if numbers:
        mine = [c for c in mine if c.report_number in numbers] or mine
    parts, citations = [], []
    for claim in mine[:3]:
        citations.append(Citation(CitationKind.CLAIM, claim.id, _claim_title(claim)))
        line = f"{_claim_title(claim)}核定赔付{yuan(claim.approved_amount)}"
        payout = await Payout.filter(claim_id=claim.id).order_by("-created_at").first()
        if claim.paid_at is not None:
            line += f"，已于{cn_date(local_date(claim.paid_at))}支付{yuan(claim.paid_amount)}"
            if claims.sees_payee(actor, claim) and claim.payout_account_masked:
                line += f"至{claim.payout_account_masked}"
        elif payout is not None:
            line += f"，转账{PAYOUT_NAMES[payout.status]}"
            citations.append(
                Citation(CitationKind.PAYOUT, payout.id, f"转账 {payout.transfer_number}")
            )
        elif claim.pending_approval:
            line += "，金额正在等待上级复核"
        else:
            clock = claims.clocks(claim)
            if clock.payment_due_at is not None:
                line += f"，应在{cn_date(local_date(clock.payment_due_at))}前支付"
            if claims.sees_payee(actor, claim) and not claim.payout_account_masked:
                line += "，请先在案件详情中选择收款账户"
        parts.append(line)
    return Answer(
        "；".join(parts) + "。",
        0.9,
        citations,
        [SuggestedAction(ActionKind.VIEW_CLAIM, "查看案件详情", mine[0].id, CitationKind.CLAIM)],
    )


async def refund_status(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    orders = Subquery(visible_orders(actor).values("id"))
    refunds = (
        await Refund.filter(order_id__in=orders)
        .select_related("order")
        .order_by("-created_at")
        .limit(3)
    )
    if not refunds:
        return Answer(
            "您目前没有退款记录。犹豫期退保或重复缴费的退款会原路退回，一般1-3个工作日到账。", 0.85
        )
    parts = []
    for refund in refunds:
        line = (
            f"退款 {refund.refund_number}（订单 {refund.order.order_number}）"
            f"{yuan(refund.amount)}：{REFUND_NAMES[refund.status]}"
        )
        if refund.finished_at and refund.status is RefundStatus.SUCCESS:
            line += f"（{cn_date(local_date(refund.finished_at))}）"
        parts.append(line)
    return Answer(
        "；".join(parts) + "。退款原路退回付款账户。",
        0.9,
        [Citation(CitationKind.REFUND, r.id, f"退款 {r.refund_number}") for r in refunds],
    )


async def appointments(actor: Actor, text: str, history: Sequence[str]) -> Answer:
    now = datetime.now(UTC)
    visits = (
        await FollowUpVisit.filter(customer_id=actor.subject_id, status=VisitStatus.SCHEDULED)
        .order_by("due_at")
        .limit(3)
    )
    surveys = (
        await SurveyInvitation.filter(
            customer_id=actor.subject_id, answered_at=None, expires_at__gt=now
        )
        .order_by("expires_at")
        .limit(3)
    )
    if not visits and not surveys:
        return Answer("您目前没有待进行的回访或待填写的问卷。", 0.85)
    parts, citations = [], []
    for visit in visits:
        when = visit.agreed_due_at or visit.due_at
        parts.append(
            f"{visit.purpose}：计划于{cn_date(local_date(when))}"
            + ("（改期申请处理中）" if visit.change_requested_at else "")
        )
        citations.append(Citation(CitationKind.VISIT, visit.id, visit.purpose))
    if surveys:
        parts.append(
            f"待填写的服务评价问卷{len(surveys)}份，最早于{cn_date(local_date(surveys[0].expires_at))}失效"
        )
        citations += [Citation(CitationKind.SURVEY, s.id, "服务评价问卷") for s in surveys]
    return Answer("；".join(parts) + "。可在App「我的回访」中改期或拒绝回访。", 0.9, citations)


HANDLERS = {
    Intent.CLAIM_PROGRESS: claim_progress,
    Intent.CLAIM_DOCUMENTS: claim_documents,
    Intent.PREMIUM_DUE: premium_due,
    Intent.OVERDUE_RISK: overdue_risk,
    Intent.POLICY_EXPIRY: policy_expiry,
    Intent.COVERAGE: coverage,
    Intent.PAYOUT_STATUS: payout_status,
    Intent.REFUND_STATUS: refund_status,
    Intent.APPOINTMENTS: appointments,
}
