"""What a customer's message asks for: guardrails first (a request for a human, a
complaint, anger, a regulator or the media, an attempt to steer the assistant or to read
someone else's data), then the personal intents answered from the customer's own
records, scored by keyword rules. Anything else goes to the knowledge base.

Rules, not a trained model: the intents are few and their words are the insurer's own
vocabulary; rules are readable, testable one by one, need no dependency and no model
file, and every decision can be explained to a supervisor. The test set
(tests/workflows/test_assistant_questions.py) measures them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from workflows.assistant.contract import HandoffReason


class Intent(StrEnum):
    CLAIM_PROGRESS = "claim_progress"
    CLAIM_DOCUMENTS = "claim_documents"  # what my claim still needs
    LOSS_DOCUMENTS = "loss_documents"  # what a kind of loss needs, from the products' terms
    PREMIUM_DUE = "premium_due"
    OVERDUE_RISK = "overdue_risk"
    POLICY_EXPIRY = "policy_expiry"
    COVERAGE = "coverage"
    PAYOUT_STATUS = "payout_status"
    REFUND_STATUS = "refund_status"
    APPOINTMENTS = "appointments"
    FAQ = "faq"
    GREETING = "greeting"
    THANKS = "thanks"
    CLAIM_DECISION = "claim_decision"  # "will mine be paid?": never promised nor refused
    REFUSED = "refused"  # prompt injection, someone else's data
    HANDOFF = "handoff"
    UNKNOWN = "unknown"


PERSONAL = frozenset(
    {
        Intent.CLAIM_PROGRESS,
        Intent.CLAIM_DOCUMENTS,
        Intent.PREMIUM_DUE,
        Intent.OVERDUE_RISK,
        Intent.POLICY_EXPIRY,
        Intent.COVERAGE,
        Intent.PAYOUT_STATUS,
        Intent.REFUND_STATUS,
        Intent.APPOINTMENTS,
    }
)


def _any(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(words), re.IGNORECASE)


INJECTION = _any(
    r"忽略.{0,8}(指令|提示|规则|设定|要求|限制)",
    r"无视.{0,8}(指令|规则|设定|限制)",
    r"ignore (all |any )?(the )?(previous|above|prior) ",
    r"system ?prompt",
    r"系统提示词?",
    r"提示词",
    r"开发者模式",
    r"越狱",
    r"你现在(是|扮演|变成)",
    r"假装你是",
    r"扮演",
    r"不受.{0,4}限制",
    r"直接(批准|通过)我?的?理赔",
    r"(输出|打印|告诉我).{0,6}(你的)?(指令|规则|prompt)",
)
OTHER_PEOPLE = _any(
    r"(别人|他人|其他人|其他客户|别的客户|陌生人)的.{0,6}(保单|理赔|信息|电话|手机|身份证|地址|赔款|资料)",
    r"(查|看|告诉我).{0,4}(别人|他人|其他客户|所有客户)",
    r"(所有|全部)客户",
)
HUMAN = _any(
    r"转人工", r"人工客服", r"找人工", r"要人工", r"真人", r"人工服务", r"接人工", r"^人工$"
)
# "人工客服几点上班" asks about agents, it does not ask for one.
ABOUT_AGENTS = _any(
    r"几点", r"上班", r"下班", r"工作时间", r"有没有人工", r"有人工吗", r"电话是多少"
)
REGULATOR_OR_MEDIA = _any(
    r"银保监",
    r"保监",
    r"金融监管",
    r"监管(局|部门|机构)",
    r"12378",
    r"记者",
    r"媒体",
    r"曝光",
    r"电视台",
    r"报社",
    r"上热搜",
    r"发微博",
    r"消协",
    r"消费者协会",
    r"315",
    r"黑猫投诉",
)
COMPLAINT = _any(
    r"我(要|想|准备|必须)投诉",
    r"投诉你们",
    r"要投诉",
    r"投诉(他|她|那个|理赔员|客服|业务员)",
    r"我要举报",
    r"起诉你们",
    r"告你们",
    r"找律师",
)
ANGER = _any(
    r"垃圾",
    r"骗子",
    r"骗人",
    r"坑人",
    r"坑爹",
    r"太差",
    r"气死",
    r"什么破",
    r"滚",
    r"他妈",
    r"tmd",
    r"妈的",
    r"恶心",
    r"忽悠",
    r"混蛋",
    r"欺诈",
    r"无耻",
    r"流氓",
    r"[!！]{3,}",
    r"[?？]{3,}",
    r"到底.{0,6}(赔不赔|管不管)",
    r"耍我",
)
GREETING = re.compile(r"^(你好|您好|在吗|在不在|hi|hello|哈喽|嗨|喂)[啊呀吗?？!！~。.\s]*$", re.I)
THANKS = re.compile(
    r"^((谢谢|多谢|感谢|好的|好滴|明白了|明白|知道了|懂了|ok|收到|行)[了啊呀啦你您!！~。.，,\s]*)+$",
    re.I,
)

DECISION = _any(
    r"(能|会|可以)(不能|不会)?(赔|批|通过)(吗|不|么|下来吗)?[?？]?$",
    r"赔不赔",
    r"能不能赔",
    r"会不会赔",
    r"保证.{0,4}(赔|通过)",
    r"一定(能|会)?赔",
    r"肯定(能|会)?赔",
    r"给不给赔",
    r"能赔多少",
    r"会被拒",
)
# "Mine": the question is about the customer's own records.
PERSONAL_MARKER = _any(
    r"我的",
    r"我那",
    r"我这",
    r"我家",
    r"我们家",
    r"我上次",
    r"我报",
    r"我买",
    r"我交",
    r"我缴",
    r"我还",
    r"我现在",
    r"我该",
    r"我要交",
    r"我有",
    r"我在",
    r"帮我查",
    r"查一下",
    r"查查",
    r"查下",
    r"我老婆",
    r"我老公",
    r"我爸",
    r"我妈",
    r"我儿子",
    r"我女儿",
    r"我孩子",
    r"给我",
    r"我名下",
    r"我被",
    r"本人",
    r"我是不是",
    r"咱的",
    r"俺的",
    r"我去年",
    r"我刚",
)
GENERAL_MARKER = _any(
    r"怎么",
    r"如何",
    r"什么是",
    r"是什么",
    r"啥是",
    r"吗[?？]?$",
    r"一般",
    r"流程",
    r"规定",
    r"哪些",
    r"能不能",
    r"可不可以",
    r"可以.*吗",
    r"多久",
    r"为什么",
    r"有没有",
)


@dataclass(frozen=True)
class Rule:
    intent: Intent
    pattern: re.Pattern[str]
    weight: float


RULES = (
    # claim progress
    Rule(Intent.CLAIM_PROGRESS, _any(r"理赔|赔|案件|案子|报案|报销|BA\d"), 0.4),
    Rule(
        Intent.CLAIM_PROGRESS,
        _any(
            r"进度",
            r"到哪",
            r"哪一步",
            r"怎么样了",
            r"状态",
            r"审核",
            r"结果",
            r"处理(得|的)?怎么",
            r"批了",
            r"批下来",
            r"好了没",
            r"还没(赔|批|审|处理|结果|消息)",
            r"怎么还没",
            r"有消息",
            r"多久能",
            r"什么时候能?(赔|批|审|出结果)",
            r"卡在",
            r"在处理",
            r"进展",
            r"核定",
        ),
        0.8,
    ),
    # documents my claim still needs
    Rule(Intent.CLAIM_DOCUMENTS, _any(r"材料|资料|证明|发票|单据|文件|上传"), 0.5),
    Rule(
        Intent.CLAIM_DOCUMENTS,
        _any(
            r"缺",
            r"还差",
            r"还要(交|补|上传|提供)",
            r"补(充|交|传)",
            r"没交齐",
            r"交齐",
            r"还需要",
            r"要补",
            r"少了",
            r"上传",
        ),
        0.8,
    ),
    # premium due
    Rule(
        Intent.PREMIUM_DUE, _any(r"保费|缴费|交钱|续期|这期|下期|下一期|这个月|每月|月缴|扣款"), 0.6
    ),
    Rule(
        Intent.PREMIUM_DUE,
        _any(
            r"什么时候(交|缴|扣)",
            r"哪天(交|缴|扣)",
            r"交多少",
            r"缴多少",
            r"该交",
            r"要交",
            r"应缴",
            r"下(一)?期",
            r"还要交",
            r"多少钱",
            r"几号",
        ),
        0.7,
    ),
    # overdue / lapse
    Rule(
        Intent.OVERDUE_RISK,
        _any(
            r"逾期",
            r"欠费",
            r"欠缴",
            r"没交",
            r"忘(了)?交",
            r"漏交",
            r"中止",
            r"失效",
            r"断缴",
            r"停效",
            r"过了缴费",
            r"超过缴费",
            r"会不会失效",
        ),
        1.2,
    ),
    # "扣了钱还显示没交" is a payment that has not shown yet, not a premium left unpaid.
    Rule(Intent.OVERDUE_RISK, _any(r"显示", r"扣了", r"支付成功", r"付款成功", r"已经交了"), -0.8),
    # expiry / renewal
    Rule(
        Intent.POLICY_EXPIRY,
        _any(
            r"到期",
            r"什么时候结束",
            r"有效期",
            r"还有多久",
            r"快过期",
            r"续保",
            r"保到(哪|什么时候)",
            r"截止",
        ),
        1.0,
    ),
    Rule(Intent.POLICY_EXPIRY, _any(r"保单|保险|车险|医疗险|意外险|家财险|旅行险"), 0.3),
    # coverage and what is left
    Rule(
        Intent.COVERAGE,
        _any(
            r"额度",
            r"还剩",
            r"剩(下|余)",
            r"用了多少",
            r"用掉",
            r"还能赔多少",
            r"保(了)?什么",
            r"保障(内容|范围|责任)?",
            r"保额",
            r"免赔额还剩",
        ),
        1.0,
    ),
    # payout
    Rule(Intent.PAYOUT_STATUS, _any(r"赔款|赔的钱|理赔款|赔付款|钱"), 0.5),
    Rule(
        Intent.PAYOUT_STATUS,
        _any(
            r"到账",
            r"打款",
            r"打过来",
            r"收到",
            r"到了(吗|没)",
            r"什么时候到",
            r"转账",
            r"打给我",
            r"付了",
            r"支付了",
            r"发放",
        ),
        0.9,
    ),
    # refund
    Rule(
        Intent.REFUND_STATUS,
        _any(r"退款", r"退费", r"退的钱", r"退回", r"退保费", r"多扣", r"重复扣"),
        1.2,
    ),
    # appointments
    Rule(
        Intent.APPOINTMENTS,
        _any(r"回访", r"预约", r"上门", r"问卷", r"满意度调查", r"调查", r"约(的)?时间"),
        1.0,
    ),
    # documents by kind of loss (general, from the products' terms)
    Rule(
        Intent.LOSS_DOCUMENTS, _any(r"材料|资料|证明|准备什么|带什么|交什么|需要什么|要什么"), 0.6
    ),
)

# How sure a rule-based intent must be to be answered as such, and how much an explicit
# "mine" or a record's number adds (a general question that shares words with a personal
# intent, "理赔一般多久", must stay general).
PERSONAL_THRESHOLD = 1.2
GENERAL_PENALTY = 0.6


@dataclass(frozen=True)
class Guard:
    intent: Intent
    handoff: HandoffReason | None


def guard(text: str) -> Guard | None:
    """The guardrails, in order of precedence: a request to steer the assistant or read
    others' data is refused (never handed to an agent as if it were a question); a
    regulator or media mention, a complaint, anger or a request for a human hands off."""
    if INJECTION.search(text) or OTHER_PEOPLE.search(text):
        return Guard(Intent.REFUSED, None)
    if REGULATOR_OR_MEDIA.search(text):
        return Guard(Intent.HANDOFF, HandoffReason.REGULATOR_OR_MEDIA)
    if COMPLAINT.search(text):
        return Guard(Intent.HANDOFF, HandoffReason.COMPLAINT)
    if ANGER.search(text):
        return Guard(Intent.HANDOFF, HandoffReason.ANGER)
    if HUMAN.search(text) and not ABOUT_AGENTS.search(text):
        return Guard(Intent.HANDOFF, HandoffReason.ASKED_FOR_HUMAN)
    return None


@dataclass(frozen=True)
class Scored:
    intent: Intent
    score: float
    personal: bool  # the text says it is about the customer's own records


def score(text: str, *, has_number: bool, loss_words: bool) -> list[Scored]:
    """Every intent the rules see in ``text``, best first."""
    mine = has_number or bool(PERSONAL_MARKER.search(text))
    general = bool(GENERAL_MARKER.search(text)) and not mine
    totals: dict[Intent, float] = {}
    for rule in RULES:
        if rule.pattern.search(text):
            totals[rule.intent] = totals.get(rule.intent, 0.0) + rule.weight
    if Intent.LOSS_DOCUMENTS in totals:
        if loss_words and not mine:
            totals[Intent.LOSS_DOCUMENTS] += 1.0
        else:
            del totals[Intent.LOSS_DOCUMENTS]
    if Intent.CLAIM_DOCUMENTS in totals and not (mine or "我" in text):
        totals[Intent.CLAIM_DOCUMENTS] *= GENERAL_PENALTY
    result = []
    for intent, total in totals.items():
        if intent in PERSONAL and general:
            total *= GENERAL_PENALTY
        if intent in PERSONAL and mine:
            total += 0.3
        result.append(Scored(intent, total, mine))
    return sorted(result, key=lambda s: s.score, reverse=True)
