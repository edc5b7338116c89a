"""The proposed classification over complaint texts written for this test (each class
and each urgency), with the accuracy printed and a floor asserted; and the context rules
(an open claim, a repeat, a regulator referral)."""

from __future__ import annotations

from models.complaints import ComplaintClass as C
from models.complaints import Urgency as U
from workflows.complaints.classify import Context, propose

G, R, M = U.GENERAL, U.URGENT, U.MAJOR
CASES: list[tuple[str, C, U]] = [
    # claims
    ("我的理赔申请提交一个月了还没有结果", C.CLAIM, G),
    ("车险定损金额太低，修车费用远不止这些", C.CLAIM, G),
    ("住院医疗费报销被拒赔，理由说不清楚", C.CLAIM, G),
    ("理赔员一直让我补材料，已经补了三次", C.CLAIM, G),
    ("赔款到现在还没到，我急需这笔钱做手术", C.CLAIM, R),
    ("拒赔不合理，我已经找了律师准备起诉你们", C.CLAIM, M),
    ("少赔了两千元，核赔结论和条款不一致", C.CLAIM, G),
    ("报案之后查勘人员三天都没来现场", C.CLAIM, G),
    # payment
    ("银行卡被重复扣款两次保费", C.PAYMENT, G),
    ("退保后退款一直没有到账", C.PAYMENT, G),
    ("自动扣费没有提前通知我", C.PAYMENT, G),
    ("续期缴费失败但钱已经被扣了", C.PAYMENT, G),
    ("多扣了我三百块钱，请立即退还", C.PAYMENT, R),
    ("支付页面付款后订单显示未支付", C.PAYMENT, G),
    ("乱扣款，我要向金融监管部门反映", C.PAYMENT, M),
    # privacy
    ("我的个人信息被泄露了，天天接到推销电话", C.PRIVACY, G),
    ("你们把我的身份证号给了第三方", C.PRIVACY, G),
    ("每天都有陌生电话骚扰，说是你们公司的", C.PRIVACY, G),
    ("隐私信息被倒卖，我要找媒体曝光", C.PRIVACY, M),
    ("短信轰炸，一天十几条，请马上停止", C.PRIVACY, R),
    ("信息泄露导致我被诈骗，已经报警", C.PRIVACY, G),
    # sales
    ("业务员误导我买了这份保险，说收益很高", C.SALES, G),
    ("代理人承诺的返还根本没有写在合同里", C.SALES, G),
    ("销售时夸大保障，现在要求退保", C.SALES, G),
    ("贷款时被强制搭售保险", C.SALES, G),
    ("咨询了三次都没人说清楚犹豫期怎么算", C.SALES, G),
    ("销售人员宣传是理财产品，实际是保险，我要去银保监会投诉", C.SALES, M),
    ("犹豫期就要过了，请尽快处理我的退保", C.SALES, R),
    # product
    ("条款里的责任免除写得太隐蔽", C.PRODUCT, G),
    ("等待期设置太长，不合理", C.PRODUCT, G),
    ("续保涨价太多，费率调整没有说明", C.PRODUCT, G),
    ("保障范围和介绍的不一样", C.PRODUCT, G),
    ("健康告知问题设计得很含糊", C.PRODUCT, G),
    ("产品条款有问题，记者已经联系我采访", C.PRODUCT, M),
    # service
    ("客服态度很差，说话不耐烦", C.SERVICE, G),
    ("电话打不通，等了半小时也没人接", C.SERVICE, G),
    ("柜台排队两个小时，效率太低", C.SERVICE, G),
    ("回访的工作人员很敷衍", C.SERVICE, G),
    ("客服互相推诿，没人管我的问题", C.SERVICE, G),
    ("服务太差，我要在微博上曝光你们", C.SERVICE, M),
    ("客服一直没回复，今天必须给我答复", C.SERVICE, R),
    ("投诉了多次客服都不理", C.SERVICE, R),
]


def test_the_proposal_is_right_often_enough() -> None:
    assert len(CASES) >= 40
    assert {c for _, c, _ in CASES} == set(C) and {u for _, _, u in CASES} == set(U)
    classes = urgencies = both = 0
    for text, content_class, urgency in CASES:
        proposal = propose(text)
        classes += proposal.content_class is content_class
        urgencies += proposal.urgency is urgency
        both += (proposal.content_class, proposal.urgency) == (content_class, urgency)
    n = len(CASES)
    print(
        f"classifier over {n} texts: class {classes / n:.0%}, urgency {urgencies / n:.0%}, "
        f"both {both / n:.0%}"
    )
    assert classes / n >= 0.8 and urgencies / n >= 0.85 and both / n >= 0.7


def test_context_rules() -> None:
    assert propose("态度很差", Context(open_claim=True)).content_class is C.CLAIM
    assert propose("态度很差", Context(repeats=1)).urgency is U.URGENT
    assert propose("尽快处理", Context(repeats=2)).urgency is U.MAJOR
    assert propose("态度很差", Context(channel_is_media_or_regulator=True)).urgency is U.MAJOR
    assert propose("扣了钱", Context(about_payment=True)).content_class is C.PAYMENT
    assert propose("没什么").content_class is C.SERVICE  # nothing to go by
