"""The proposed classification of a complaint: content class and urgency from the
customer's words (segmented with jieba, so 理赔 inside 理赔款 and a phrase split by
punctuation are both found) and from context (what it is about, earlier complaints).
Staff confirm or correct every proposal; ``ClassificationCorrection`` keeps both.

The rules are deliberately plain data so staff decisions can be checked against them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from models.complaints import ComplaintClass, Urgency

if TYPE_CHECKING:
    import jieba

C = ComplaintClass
# Words that point at a class; weights are counts of hits.
CLASS_WORDS: dict[ComplaintClass, tuple[str, ...]] = {
    C.CLAIM: (
        "理赔",
        "赔付",
        "拒赔",
        "赔款",
        "报案",
        "定损",
        "核赔",
        "赔偿",
        "理赔员",
        "查勘",
        "医疗费",
        "报销",
        "不赔",
        "少赔",
        "结案",
    ),
    C.PAYMENT: (
        "扣款",
        "扣费",
        "多扣",
        "重复扣",
        "退款",
        "保费",
        "续期",
        "划款",
        "支付",
        "付款",
        "到账",
        "银行卡",
        "缴费",
        "自动扣",
    ),
    C.PRIVACY: (
        "个人信息",
        "隐私",
        "泄露",
        "骚扰",
        "推销电话",
        "身份证号",
        "信息泄露",
        "短信轰炸",
        "倒卖",
        "陌生电话",
    ),
    C.SALES: (
        "销售",
        "业务员",
        "代理人",
        "误导",
        "夸大",
        "承诺",
        "收益",
        "退保",
        "犹豫期",
        "强制",
        "搭售",
        "咨询",
        "宣传",
        "返佣",
        "理财",
    ),
    C.PRODUCT: (
        "条款",
        "产品",
        "保障范围",
        "免责",
        "等待期",
        "保额",
        "责任免除",
        "费率",
        "涨价",
        "设计",
        "不合理条款",
        "健康告知",
    ),
    C.SERVICE: (
        "态度",
        "客服",
        "服务",
        "电话打不通",
        "没人接",
        "不理",
        "推诿",
        "等了",
        "排队",
        "柜台",
        "回访",
        "效率",
        "敷衍",
        "不耐烦",
    ),
}
MAJOR_WORDS = (
    "媒体",
    "银保监",
    "银保监会",
    "金融监管",
    "监管局",
    "律师",
    "起诉",
    "曝光",
    "记者",
    "法院",
    "上访",
    "12378",
    "群体",
    "微博",
    "报道",
)
URGENT_WORDS = (
    "紧急",
    "马上",
    "立即",
    "尽快",
    "住院",
    "手术",
    "急需",
    "救命",
    "生活困难",
    "多次",
    "一直没",
    "第三次",
    "再不",
    "今天",
)
EXTRA_WORDS = (
    "银保监",
    "银保监会",
    "金融监管",
    "理赔员",
    "重复扣",
    "多扣",
    "电话打不通",
    "没人接",
    "个人信息",
    "信息泄露",
    "推销电话",
    "犹豫期",
    "保障范围",
    "责任免除",
    "等待期",
    "短信轰炸",
    "自动扣",
    "不合理条款",
    "健康告知",
    "一直没",
    "生活困难",
    "第三次",
)


@dataclass(frozen=True)
class Context:
    """What is known about the complaint beside its words."""

    open_claim: bool = False  # about a claim still being worked
    about_claim: bool = False
    about_payment: bool = False
    about_visit: bool = False
    about_staff: bool = False
    repeats: int = 0  # the same customer's complaints in the last 30 days
    channel_is_media_or_regulator: bool = False


@dataclass(frozen=True)
class Proposal:
    content_class: ComplaintClass
    urgency: Urgency
    reasons: list[str] = field(default_factory=list)


_built: list[jieba.Tokenizer] = []  # the one tokenizer of this process, once built
_building = threading.Lock()


def _tokenizer() -> jieba.Tokenizer:
    """Built once per process (about 2.5 s: the dictionary is loaded on first use). The
    app builds it in a worker thread at start-up (``warm_up``); a complaint filed while
    that runs waits for it rather than building a second one."""
    if not _built:
        with _building:
            if not _built:
                import jieba  # here: importing it costs ~0.4 s of every process's start-up

                jieba.setLogLevel(logging.WARNING)  # its loading chatter is not our log
                tokenizer = jieba.Tokenizer()
                for word in EXTRA_WORDS:
                    tokenizer.add_word(word, freq=20000)
                tokenizer.lcut("投诉")  # loads the dictionary now, not in the first request
                _built.append(tokenizer)
    return _built[0]


def is_warm() -> bool:
    return bool(_built)


def warm_up() -> float:
    """Load the dictionary (blocking: run it in a thread); the seconds it took, 0 when
    it was loaded already."""
    started = time.perf_counter()
    if is_warm():
        return 0.0
    _tokenizer()
    return time.perf_counter() - started


def tokens(text: str) -> list[str]:
    return [t for t in _tokenizer().lcut(text) if t.strip()]


def _hits(words: list[str], text: str, vocabulary: tuple[str, ...]) -> list[str]:
    """Vocabulary words found as tokens, or (for phrases jieba may split) in the text."""
    present = set(words)
    return [w for w in vocabulary if w in present or (len(w) >= 3 and w in text)]


def propose(text: str, context: Context = Context()) -> Proposal:
    words = tokens(text)
    reasons: list[str] = []
    scores: Counter[ComplaintClass] = Counter()
    for content_class, vocabulary in CLASS_WORDS.items():
        scores[content_class] = len(_hits(words, text, vocabulary))
    if context.about_payment:
        scores[C.PAYMENT] += 1
    if context.about_visit or context.about_staff:
        scores[C.SERVICE] += 1
    if context.about_claim:
        scores[C.CLAIM] += 1
    best = max(CLASS_WORDS, key=lambda c: scores[c])  # ties: the order of CLASS_WORDS
    chosen = best if scores[best] else C.SERVICE
    if context.open_claim and chosen is not C.PRIVACY:
        chosen = C.CLAIM
        reasons.append("投诉涉及未结理赔案件")
    major = _hits(words, text, MAJOR_WORDS)
    urgent = _hits(words, text, URGENT_WORDS)
    if major or context.channel_is_media_or_regulator:
        urgency = Urgency.MAJOR
        reasons.append(
            "涉及媒体、监管或诉讼：" + "、".join(major) if major else "监管转办或媒体渠道"
        )
    elif urgent:
        urgency = Urgency.URGENT
        reasons.append("紧急用语：" + "、".join(urgent))
    else:
        urgency = Urgency.GENERAL
    if context.repeats and urgency is not Urgency.MAJOR:
        urgency = Urgency.URGENT if urgency is Urgency.GENERAL else Urgency.MAJOR
        reasons.append(f"30日内重复投诉{context.repeats}次")
    return Proposal(chosen, urgency, reasons)
