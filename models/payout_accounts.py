"""Payout accounts: where a claim's money goes. An account is personal data: sealed at
rest like phone and ID numbers (one value per account, bound to its purpose) and shown
masked, enough to recognise and not to use.

An Alipay account (a login or a 2088… user id), WeChat (the payee's mini-program
openid) or a bank card (UnionPay: the holder's name, the bank, the card number). The
provider's name stays in clear: it says how, not to whom.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from models.pii import PiiCipher

PURPOSE = "payout_account"
BANK = "bank"
PROVIDER_NAMES = {"alipay": "支付宝", "wechat": "微信零钱", BANK: "银行卡", "sandbox": "测试账户"}


@dataclass(frozen=True)
class PayoutAccount:
    provider: str
    account: str  # Alipay login or user id; WeChat openid; bank card number
    holder_name: str | None = None  # a bank card: whose it is (the bank checks it)
    bank_name: str | None = None  # a bank card: e.g. 招商银行

    @property
    def masked(self) -> str:
        """As shown in timelines, notices and to staff."""
        label = PROVIDER_NAMES.get(self.provider, self.provider)
        if self.provider == "wechat":
            return label  # the openid means nothing to a person
        if self.provider == BANK:
            return f"{self.bank_name} 尾号{self.account[-4:]}"
        name, at, domain = self.account.partition("@")
        if at:
            return f"{label} {name[:2]}***@{domain}"
        if len(self.account) > 7:
            return f"{label} {self.account[:3]}****{self.account[-4:]}"
        return f"{label} ****"

    def seal(self, pii: PiiCipher) -> str:
        fields = {"account": self.account, "name": self.holder_name, "bank": self.bank_name}
        return pii.encrypt(json.dumps(fields, ensure_ascii=False), PURPOSE)

    def lookup_hash(self, pii: PiiCipher) -> str:
        """The same account gives the same hash, whoever enters it (risk rules compare
        accounts across customers without decrypting any)."""
        return pii.lookup_hash(f"{self.provider}:{self.account.strip().lower()}", PURPOSE)

    @classmethod
    def unseal(cls, pii: PiiCipher, provider: str, sealed: str) -> PayoutAccount:
        fields = json.loads(pii.decrypt(sealed, PURPOSE))
        return cls(provider, fields["account"], fields.get("name"), fields.get("bank"))
