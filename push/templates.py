"""What each kind of event tells the customer: Chinese texts, where a tap leads, how
urgent it is and which channels carry it by default.

Texts are filled from the event payload, which workflows fill with display values only
(policy numbers, masked names, amounts): never full ID numbers, phones or secrets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from models.notifications import Channel

log = logging.getLogger("anxin.templates")
APP_PUSH = (Channel.APNS, Channel.FCM)


@dataclass(frozen=True)
class EventTemplate:
    kind: str
    title: str
    body: str  # str.format(**payload)
    deep_link: str  # the app's route, str.format(**payload)
    mini_program_page: str  # the mini-program page path, str.format(**payload)
    urgent: bool = False
    channels: tuple[Channel, ...] = (*APP_PUSH, Channel.WECHAT)
    sms: bool = False  # also by SMS (or as the fallback when no WeChat consent is left)
    # 营销信息: only to customers who gave marketing consent (setMarketingConsent);
    # the others get neither the inbox entry nor a delivery.
    marketing: bool = False


TEMPLATES: dict[str, EventTemplate] = {
    t.kind: t
    for t in [
        EventTemplate(
            # No text of the agent's: a lock screen shows it to whoever holds the phone.
            "conversation.agent_replied",
            "客服回复了您",
            "客服{agent_name}回复了您的咨询，点击查看。",
            "anxin://conversations/{conversation_id}",
            "pages/service/chat?id={conversation_id}",
            urgent=True,  # the customer is waiting for it, quiet hours or not
        ),
        EventTemplate(
            "complaint.received",
            "投诉已受理",
            "您的投诉{complaint_number}已受理，我们将在{answer_due}前答复您。",
            "anxin://complaints/{complaint_id}",
            "pages/complaint/detail?id={complaint_id}",
            sms=True,
        ),
        EventTemplate(
            "complaint.info_requested",
            "投诉处理需要您补充信息",
            "投诉{complaint_number}需要您补充：{what}。",
            "anxin://complaints/{complaint_id}",
            "pages/complaint/detail?id={complaint_id}",
        ),
        EventTemplate(
            "complaint.extended",
            "投诉处理延期",
            "投诉{complaint_number}的答复期限延至{answer_due}，原因：{reason}。",
            "anxin://complaints/{complaint_id}",
            "pages/complaint/detail?id={complaint_id}",
            sms=True,
        ),
        EventTemplate(
            "complaint.answered",
            "投诉已答复",
            "投诉{complaint_number}已答复，请查看答复内容；如不满意可申请复核。",
            "anxin://complaints/{complaint_id}",
            "pages/complaint/detail?id={complaint_id}",
            sms=True,
        ),
        EventTemplate(
            "complaint.goodwill_paid",
            "投诉补偿款已支付",
            "投诉{complaint_number}的补偿款{amount}元已支付，请注意查收。",
            "anxin://complaints/{complaint_id}",
            "pages/complaint/detail?id={complaint_id}",
            sms=True,
        ),
        EventTemplate(
            # A service promise broken (workflows.commitments): the apology, the points
            # given, and that a supervisor will call; the tap opens what it was about.
            "commitment.broken",
            "服务承诺未兑现",
            "很抱歉，{subject}的“{title}”未能兑现。{gift}服务主管将尽快与您联系。",
            "{deep_link}",
            "{page}",
        ),
        EventTemplate(
            "claim.reported",
            "报案已受理",
            "您的报案{report_number}已受理，请按提示上传理赔材料。",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
        ),
        EventTemplate(
            "claim.reported_by_staff",
            "报案已受理",
            "您的报案{report_number}已受理。{upload}",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
            sms=True,
        ),
        EventTemplate(
            "claim.documents_missing",
            "请补充理赔材料",
            "理赔{claim_number}还需补充：{missing}。",
            "anxin://claims/{claim_id}/documents",
            "pages/claim/documents?id={claim_id}",
            urgent=True,
            sms=True,
        ),
        EventTemplate(
            "claim.decided",
            "理赔审核结果",
            "理赔{claim_number}已审核：{decision}。",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
            sms=True,
        ),
        EventTemplate(
            "claim.reopened",
            "理赔重新审核",
            "理赔{claim_number}已重新进入审核，我们将尽快告知您新的审核结果。",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
            sms=True,
        ),
        EventTemplate(
            "claim.paid",
            "理赔款已支付",
            "理赔{claim_number}的赔款{amount}元已支付，请注意查收。",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
            sms=True,
        ),
        EventTemplate(
            "claim.payout_account_changed",
            "理赔收款账户变更",
            "理赔{claim_number}的赔款将支付至{account}。如非您本人操作，请立即联系客服。",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
            urgent=True,
            sms=True,
        ),
        EventTemplate(
            # {change}: to the new payee that the money is theirs (and where to choose an
            # account), to the former one that it no longer is.
            "claim.payee_changed",
            "理赔收款人变更",
            "理赔{claim_number}的收款人已变更，{change}。",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
            urgent=True,
            sms=True,
        ),
        EventTemplate(
            "claim.closed",
            "理赔已结案",
            "理赔{claim_number}已结案，感谢您的耐心配合。",
            "anxin://claims/{claim_id}",
            "pages/claim/detail?id={claim_id}",
        ),
        EventTemplate(
            "premium.due",
            "保费即将到期",
            "保单{policy_number}第{sequence}期保费{amount}元将于{due_date}到期，请及时缴纳。",
            "anxin://policies/{policy_id}/premiums",
            "pages/policy/premium?id={policy_id}",
        ),
        EventTemplate(
            "premium.overdue",
            "保费已逾期",
            "保单{policy_number}第{sequence}期保费{amount}元已于{due_date}到期未缴，"
            "请尽快缴纳以免影响保障。",
            "anxin://policies/{policy_id}/premiums",
            "pages/policy/premium?id={policy_id}",
            urgent=True,
            sms=True,
        ),
        EventTemplate(
            "payment.received",
            "缴费成功",
            "已收到保单{policy_number}的保费{amount}元，感谢您的支持。",
            "anxin://payments/{order_id}",
            "pages/payment/detail?id={order_id}",
        ),
        EventTemplate(
            "payment.refunded",
            "退款已受理",
            "您的{reason}{amount}元已原路退回，请注意查收。",
            "anxin://payments/{order_id}",
            "pages/payment/detail?id={order_id}",
        ),
        EventTemplate(
            "payment.failed",
            "缴费未成功",
            "保单{policy_number}的保费{amount}元支付未成功，请重新支付。",
            "anxin://payments/{order_id}",
            "pages/payment/detail?id={order_id}",
            urgent=True,
        ),
        # A renewable policy: the reminder opens its renewal offer (renewalOffer).
        EventTemplate(
            "policy.expiring",
            "保单即将到期",
            "您的保单{policy_number}（{product_name}）将于{end_date}到期，还剩{days}天。"
            "现在可在App内续保：查看续保报价，一键支付，新保单自到期时起无缝衔接。",
            "anxin://policies/{policy_id}/renewal",
            "pages/policy/renewal?id={policy_id}",
        ),
        # A policy of a product that cannot be renewed: nothing to offer in the app.
        EventTemplate(
            "policy.ending",
            "保单即将到期",
            "您的保单{policy_number}（{product_name}）将于{end_date}到期，还剩{days}天。"
            "该产品不支持续保，如需继续保障，请联系您的保险顾问或客服。",
            "anxin://policies/{policy_id}",
            "pages/policy/detail?id={policy_id}",
        ),
        EventTemplate(
            "application.accepted",
            "投保申请已通过核保",
            "您的投保申请{application_number}（{plan_name}）已通过核保，"
            "请于{pay_by}前支付保费{premium}元，支付后保单即时生效出单。",
            "anxin://applications/{application_id}",
            "pages/application/detail?id={application_id}",
        ),
        EventTemplate(
            "application.declined",
            "投保申请未通过核保",
            "很抱歉，您的投保申请{application_number}（{plan_name}）未通过核保：{reason}。",
            "anxin://applications/{application_id}",
            "pages/application/detail?id={application_id}",
        ),
        EventTemplate(
            "application.expired",
            "投保申请已失效",
            "您的投保申请{application_number}（{plan_name}）未在期限内完成，已失效；"
            "如仍需保障，请重新投保。",
            "anxin://applications/{application_id}",
            "pages/application/detail?id={application_id}",
        ),
        # The welcome letter of a policy bought (or renewed) online.
        EventTemplate(
            "policy.issued",
            "欢迎加入安心保险",
            "您的保单{policy_number}（{product_name}）已承保，保障自{start_date}起生效。"
            "犹豫期至{cooling_off_until}，期间可申请全额退保。",
            "anxin://policies/{policy_id}",
            "pages/policy/detail?id={policy_id}",
            sms=True,
        ),
        EventTemplate(
            "policy.lapsed",
            "保单已中止",
            "您的保单{policy_number}（{product_name}）因保费逾期超过60天已中止保障，"
            "补缴保费后可申请恢复效力。",
            "anxin://policies/{policy_id}",
            "pages/policy/detail?id={policy_id}",
            urgent=True,
            sms=True,
        ),
        EventTemplate(
            "policy.cancelled",
            "保单已退保",
            "您的保单{policy_number}已在犹豫期内退保，已缴保费将原路全额退还。",
            "anxin://policies/{policy_id}",
            "pages/policy/detail?id={policy_id}",
            sms=True,
        ),
        EventTemplate(
            "survey.invited",
            "邀请您评价服务",
            "感谢您使用安心保险服务，邀请您花1分钟评价本次服务。",
            "anxin://surveys/{invitation_id}",
            "pages/survey/answer?id={invitation_id}",
            # The SMS template carries ${survey_token}: answerable without login. The token
            # is added when the SMS is sent (push/survey_links.py), never stored.
            sms=True,
        ),
        EventTemplate(
            "visit.email",
            "安心保险客户回访",
            "{purpose}：感谢您一直以来的信任。请花1分钟告诉我们您的近况和需要。",
            # The inbox entry opens the survey in the app; the e-mail itself links to the
            # web page with the token, added when it is sent (push/survey_links.py).
            "anxin://surveys/{invitation_id}",
            "pages/survey/answer?id={invitation_id}",
            channels=(Channel.EMAIL,),
        ),
        EventTemplate(
            "complaint.answered",
            "投诉处理回复",
            "您的投诉{complaint_number}已有处理结果，请查看。",
            "anxin://complaints/{complaint_id}",
            "pages/complaint/detail?id={complaint_id}",
            sms=True,
        ),
        EventTemplate(
            "invoice.issued",
            "电子发票已开具",
            "保单{policy_number}保费{amount}元的电子发票已开具，可在App中查看和下载。",
            "anxin://invoices/{invoice_id}",
            "pages/invoice/detail?id={invoice_id}",
        ),
        EventTemplate(
            "invoice.failed",
            "电子发票开具未成功",
            "保单{policy_number}保费{amount}元的电子发票未能开具：{reason}。"
            "请核对发票抬头和税号后重新申请。",
            "anxin://invoices/{invoice_id}",
            "pages/invoice/detail?id={invoice_id}",
        ),
        # Automatic renewal and the withholding agreement (workflows/policy_service/
        # auto_renewal.py, agreements.py).
        EventTemplate(
            "policy.auto_renewal_reminder",
            "自动续保提醒",
            "您的保单{policy_number}将于{charge_date}自动续保，扣款¥{amount}。"
            "如不需要续保，请在此之前关闭自动续保。",
            "anxin://policies/{policy_id}/renewal",
            "pages/policy/renewal?id={policy_id}",
        ),
        EventTemplate(
            "policy.auto_renewed",
            "自动续保成功",
            "保单{old_policy_number}已自动续保，扣款¥{amount}，新保单{policy_number}自"
            "{start_date}起生效，保障无缝衔接。",
            "anxin://policies/{policy_id}",
            "pages/policy/detail?id={policy_id}",
        ),
        EventTemplate(
            "policy.auto_renewal_failed",
            "自动续保扣款未成功",
            "保单{policy_number}的自动续保扣款未成功，{retry}您也可以点击手动支付续保保费。"
            "保单将于{end_date}到期。",
            "anxin://policies/{policy_id}/renewal",
            "pages/policy/renewal?id={policy_id}",
            urgent=True,
            sms=True,
        ),
        EventTemplate(
            "premium.due_withholding",
            "保费自动扣款提醒",
            "保单{policy_number}第{sequence}期保费{amount}元将于{due_date}通过自动扣款缴纳，"
            "请确保扣款账户余额充足。",
            "anxin://policies/{policy_id}/premiums",
            "pages/policy/premium?id={policy_id}",
        ),
        EventTemplate(
            "premium.withholding_failed",
            "自动扣款未成功",
            "保单{policy_number}第{sequence}期保费{amount}元自动扣款未成功，我们将于明日再次"
            "尝试，您也可以点击手动缴费。",
            "anxin://policies/{policy_id}/premiums",
            "pages/policy/premium?id={policy_id}",
            urgent=True,
        ),
        EventTemplate(
            "policy.collection_agreement_ended",
            "自动扣款协议已解除",
            "您的保单自动扣款协议已解除，自动续保随之关闭。如需继续，请重新签约。",
            "anxin://policies/{policy_id}",
            "pages/policy/detail?id={policy_id}",
        ),
        # Changes of a policy (保全, workflows/policy_service/endorsements.py).
        *[
            EventTemplate(
                f"endorsement.{step}",
                title,
                body,
                "anxin://endorsements/{endorsement_id}",
                "pages/endorsement/detail?id={endorsement_id}",
                sms=sms,
            )
            for step, title, body, sms in (
                (
                    "requested",
                    "保全申请已受理",
                    "保单{policy_number}的{type_name}申请（批单号{endorsement_number}）已受理。",
                    False,
                ),
                (
                    "needs_review",
                    "保全申请审核中",
                    "保单{policy_number}的{type_name}申请已提交人工审核，我们会尽快处理。",
                    False,
                ),
                (
                    "approved",
                    "保全申请已批准",
                    "保单{policy_number}的{type_name}申请已批准。",
                    False,
                ),
                (
                    "effective",
                    "保全变更已生效",
                    "保单{policy_number}的{type_name}已生效，批单号{endorsement_number}。",
                    True,
                ),
                (
                    "rejected",
                    "保全申请未通过",
                    "保单{policy_number}的{type_name}申请未通过：{reason}。",
                    True,
                ),
                (
                    "cancelled",
                    "保全申请已撤销",
                    "保单{policy_number}的{type_name}申请已撤销。",
                    False,
                ),
                (
                    "expired",
                    "保全申请已失效",
                    "保单{policy_number}的{type_name}申请（批单号{endorsement_number}）{reason}，"
                    "申请已失效；如仍需变更，请重新申请。",
                    True,
                ),
                (
                    "surrender_paid",
                    "退保金已支付",
                    "保单{policy_number}的退保金{amount}元已支付，请注意查收。",
                    True,
                ),
            )
        ],
        EventTemplate(
            "endorsement.consent_requested",
            "请确认保单变更",
            "投保人申请变更保单{policy_number}的受益人（批单号{endorsement_number}），"
            "需要您作为被保险人确认同意。",
            "anxin://endorsements/{endorsement_id}",
            "pages/endorsement/detail?id={endorsement_id}",
            sms=True,
        ),
        # A crisis statement to the affected customers (approved by a second manager).
        EventTemplate(
            "crisis.notice",
            "安心保险重要通知",
            "{text}",
            "anxin://notifications",
            "pages/notification/list",
            sms=True,
        ),
        *(
            EventTemplate(
                f"booking.{state}",
                title,
                body,
                "anxin://bookings/{booking_id}",
                "pages/benefits/booking?id={booking_id}",
                urgent=urgent,  # roadside: the customer is waiting at the road
            )
            for state, title, body, urgent in (
                (
                    "requested",
                    "服务预约已提交",
                    "您的{service_name}预约{booking_number}已提交合作机构。",
                    False,
                ),
                (
                    "confirmed",
                    "服务预约已确认",
                    "您的{service_name}预约{booking_number}已确认。",
                    False,
                ),
                (
                    "dispatched",
                    "救援已派车",
                    "{service_name}{booking_number}：救援车辆已派出。",
                    True,
                ),
                (
                    "en_route",
                    "救援车辆正在赶来",
                    "{service_name}{booking_number}：预计{eta_minutes}分钟到达。",
                    True,
                ),
                (
                    "arrived",
                    "救援车辆已到达",
                    "{service_name}{booking_number}：救援人员已到达。",
                    True,
                ),
                (
                    "done",
                    "服务已完成",
                    "{service_name}{booking_number}已完成，欢迎为本次服务评分。",
                    False,
                ),
                (
                    "cancelled",
                    "服务预约已取消",
                    "{service_name}{booking_number}已取消，次数已退回。",
                    False,
                ),
                (
                    "no_show",
                    "服务预约未到场",
                    "{service_name}{booking_number}：您未按约到场，本次计入次数。",
                    False,
                ),
            )
        ),
        EventTemplate(
            # A product or service offer: marketing, sent only with consent.
            "marketing.offer",
            "为您推荐",
            "{headline}：{text}",
            "anxin://offers/{offer_code}",
            "pages/offers/detail?code={offer_code}",
            channels=APP_PUSH,
            marketing=True,
        ),
        EventTemplate(
            "membership.upgraded",
            "会员等级提升",
            "恭喜您成为{tier_name}，点击查看您的会员权益。",
            "anxin://membership",
            "pages/membership/index",
        ),
        EventTemplate(
            "membership.downgrade_pending",
            "会员等级保级提醒",
            "您目前暂不满足{kept_tier_name}的条件，等级保留至{grace_until}；"
            "期间达到条件即可保级，否则将调整为{tier_name}。",
            "anxin://membership",
            "pages/membership/index",
        ),
        EventTemplate(
            "membership.downgraded",
            "会员等级已调整",
            "保级宽限期已结束，您的会员等级已调整为{tier_name}。",
            "anxin://membership",
            "pages/membership/index",
        ),
    ]
}


@dataclass(frozen=True)
class RenderedMessage:
    kind: str
    title: str
    body: str
    deep_link: str
    mini_program_page: str
    urgent: bool


class _Blank(dict[str, Any]):
    """A missing display value renders empty rather than stopping the relay."""

    def __missing__(self, key: str) -> str:
        log.warning("notification template value %s missing", key)
        return ""


def render(kind: str, payload: dict[str, Any]) -> RenderedMessage:
    template = TEMPLATES[kind]
    values = _Blank(payload)
    return RenderedMessage(
        kind=kind,
        title=template.title,
        body=template.body.format_map(values),
        deep_link=template.deep_link.format_map(values),
        mini_program_page=template.mini_program_page.format_map(values),
        urgent=template.urgent,
    )
