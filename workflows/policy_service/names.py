"""Chinese names of the codes policies carry, shown on documents and in notices."""

from __future__ import annotations

from models.policies import PaymentFrequency

RELATIONS = {
    "SELF": "本人",
    "SPOUSE": "配偶",
    "CHILD": "子女",
    "PARENT": "父母",
    "OTHER": "其他",
}
FREQUENCIES = {
    PaymentFrequency.SINGLE: "趸交",
    PaymentFrequency.ANNUAL: "年交",
    PaymentFrequency.SEMI_ANNUAL: "半年交",
    PaymentFrequency.QUARTERLY: "季交",
    PaymentFrequency.MONTHLY: "月交",
}
