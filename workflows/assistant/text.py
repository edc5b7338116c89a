"""Chinese text as the assistant reads it: normalised (full-width forms, common typos and
homophone slips of insurance words), segmented with jieba and an insurance user
dictionary, stop words dropped, synonyms folded onto one word so "赔款", "赔钱" and
"赔付" meet in the index.

jieba's dictionary takes about a second to load: ``warm_up`` does it at start-up, not on
the first customer's question. Words are added to jieba's process-wide default
tokenizer (the only one jieba's ``cut`` uses)."""

from __future__ import annotations

import re
import threading
import unicodedata


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Words jieba must keep whole (insurance and this insurer's service vocabulary), with a
# high frequency so they win over the general dictionary's splits.
USER_WORDS = _words(
    "报案 理赔 免赔额 免赔 宽限期 犹豫期 等待期 保全 批改 退保 "
    "续保 复效 保单 保费 保额 赔款 赔付 拒赔 撤案 核定 定损 查勘 "
    "理赔款 受益人 被保险人 投保人 交强险 商业险 车损险 三者险 "
    "第三者责任险 百万医疗 医疗险 意外险 家财险 旅行险 重疾 重大疾病 "
    "住院 门诊 特殊门诊 出院小结 病历 发票 百万医疗险 费用明细 医保 "
    "社保 垫付 绿通 道路救援 航班延误 行李 盗抢 玻璃 追尾 刮蹭 "
    "水管爆裂 入室盗窃 人工客服 转人工 投诉 回访 满意度 问卷 退款 "
    "缴费 交费 续费 到期 失效 中止 生效 电子保单 事故认定书 报案号 "
    "收款账户 微信零钱 支付宝 确认收款 补充材料 材料 进度 剩余 额度 "
    "伤残 身故 既往症 高风险运动 代位求偿 等待期 冷静期 保险金 分期 "
    "逾期 欠费 断缴 扣款 预约 上门 "
)

# Slips customers make (pinyin input picks the wrong character, full forms, dialect).
TYPOS = {
    "理陪": "理赔",
    "里赔": "理赔",
    "理培": "理赔",
    "立赔": "理赔",
    "保案": "报案",
    "报按": "报案",
    "抱案": "报案",
    "保费用": "保费",
    "饱费": "保费",
    "交费": "缴费",
    "续费": "续保",
    "犹豫其": "犹豫期",
    "尤豫期": "犹豫期",
    "宽现期": "宽限期",
    "免陪额": "免赔额",
    "免赔率": "免赔额",
    "赔偿款": "赔款",
    "陪款": "赔款",
    "賠": "赔",
    "險": "险",
    "保險": "保险",
    "發票": "发票",
    "啥时候": "什么时候",
    "咋": "怎么",
    "咋样": "怎么样",
    "木有": "没有",
    "神马": "什么",
    "肿么": "怎么",
}

# Words folded onto one (the right-hand side is what the index and the rules see).
SYNONYMS = {
    "赔钱": "赔款",
    "赔偿金": "赔款",
    "理赔款": "赔款",
    "保险金": "赔款",
    "赔付款": "赔款",
    "交": "缴",
    "交钱": "缴费",
    "付款": "缴费",
    "支付": "缴费",
    "交保费": "缴费",
    "资料": "材料",
    "证明": "材料",
    "单据": "材料",
    "文件": "材料",
    "案子": "理赔",
    "案件": "理赔",
    "报销": "理赔",
    "索赔": "理赔",
    "申请理赔": "理赔",
    "出险": "出事",
    "事故": "出事",
    "冷静期": "犹豫期",
    "保险单": "保单",
    "合同": "保单",
    "过期": "到期",
    "期满": "到期",
    "失效": "中止",
    "断缴": "中止",
    "停效": "中止",
    "保额": "额度",
    "多久": "时间",
    "多长时间": "时间",
    "几天": "时间",
    "客服": "人工客服",
    "车险": "车",
    "汽车": "车",
    "车辆": "车",
    "爱车": "车",
    "机动车": "车",
    "看病": "就医",
    "住院费": "住院",
    "医药费": "医疗费",
    "我妈": "家人",
    "我爸": "家人",
    "妈妈": "家人",
    "爸爸": "家人",
    "父母": "家人",
    "老人": "家人",
    "孩子": "家人",
    "儿子": "家人",
    "女儿": "家人",
    "子女": "家人",
    "老婆": "家人",
    "老公": "家人",
    "延长": "延期",
    "干嘛": "怎么办",
    "咋办": "怎么办",
}

STOP_WORDS = frozenset(
    (
        *_words(
            "的 了 吗 呢 吧 啊 呀 哦 嘛 么 是 我 我的 你 你们 您 他 "
            "她 它 这 那 这个 那个 一下 请问 请 想 想问 问 问下 问一下 "
            "一个 有 在 和 与 及 或 就 都 也 还 要 会 能 可以 可 吧 "
            "哈 嗯 好 谢谢 麻烦 帮 帮我 给 让 把 被 从 到 对 为 "
            "什么样 怎样 ？ ? ， , 。 . ！ ! 、 ~ ～ … ： : "
            "的话 一般 现在 今天 刚才 已经 应该 需要 如果 然后 但是 因为 "
            "所以 就是 那么 这样 呢 么 之前 以后 之后 为什么 怎么 如何 "
            "什么 啥 意思 是否 该 都 些 哪些 哪里 哪个 还能 能够 吗 不 "
        ),
        " ",
    )
)

_ready = threading.Lock()
_loaded = False


def load_dictionary() -> None:
    """Load jieba's dictionary and the insurance words once per process."""
    global _loaded
    with _ready:
        if _loaded:
            return
        import jieba  # here: importing it costs ~0.4 s of every process's start-up

        jieba.setLogLevel(60)  # no "Building prefix dict" chatter in the logs
        jieba.initialize()
        for word in USER_WORDS:
            jieba.add_word(word, freq=200_000)
        _loaded = True


_TYPO_PATTERN = re.compile("|".join(sorted(map(re.escape, TYPOS), key=len, reverse=True)))
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Full-width letters and digits made half-width, typos corrected, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = _TYPO_PATTERN.sub(lambda m: TYPOS[m.group(0)], text)
    return _SPACES.sub(" ", text).strip()


def tokens(text: str) -> list[str]:
    """The words of ``text`` that carry meaning, synonyms folded, in order."""
    load_dictionary()
    import jieba  # loaded by load_dictionary: a lookup in sys.modules

    words = []
    for word in jieba.lcut(normalize(text).lower()):
        word = word.strip()
        if not word or word in STOP_WORDS:
            continue
        words.append(SYNONYMS.get(word, word))
    return words
