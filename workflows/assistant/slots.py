"""Slot filling: what a question names — a claim or policy number, dates, amounts, the
kind of product, the kind of loss — read with patterns, and personal numbers masked as
the API masks them (a customer who types their phone or ID number does not see it
echoed in full, nor does an agent reading the slots)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from models.pii import mask_id_number, mask_phone
from models.policies import ProductKind

CLAIM_NUMBER = re.compile(r"(?<![0-9A-Za-z])BA\d{14}(?![0-9])", re.IGNORECASE)
POLICY_NUMBER = re.compile(r"(?<![0-9A-Za-z])AX[A-Z]\d{10}(?![0-9])", re.IGNORECASE)
PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9])")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
CARD_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{16,19}(?![0-9])")
AMOUNT = re.compile(r"(\d+(?:\.\d{1,2})?)\s*(万元|万|元|块钱|块)")
FULL_DATE = re.compile(r"(20\d{2})[-/年.](\d{1,2})[-/月.](\d{1,2})日?")
MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})月(\d{1,2})[日号]")
RELATIVE_DAYS = {"今天": 0, "昨天": -1, "前天": -2, "明天": 1, "后天": 2, "大前天": -3}

PRODUCT_WORDS: dict[ProductKind, tuple[str, ...]] = {
    ProductKind.AUTO: ("车险", "车", "汽车", "机动车", "撞车", "追尾", "刮蹭", "交强险", "车损"),
    ProductKind.HEALTH: ("医疗", "百万医疗", "住院", "门诊", "健康险", "看病", "重疾", "化疗"),
    ProductKind.ACCIDENT: ("意外", "摔", "扭伤", "身故", "伤残", "骨折"),
    ProductKind.PROPERTY: ("家财", "家庭财产", "房子", "房屋", "漏水", "水管", "入室", "火灾"),
    ProductKind.TRAVEL: ("旅行", "旅游", "境外", "出国", "国外", "航班", "行李", "签证"),
}


def mask_personal_numbers(text: str) -> str:
    """Phone, ID and card numbers in ``text`` masked (business numbers left alone)."""
    text = ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    text = CARD_NUMBER.sub(lambda m: f"{m.group(0)[:4]}****{m.group(0)[-4:]}", text)
    return PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def product_kinds(text: str) -> list[ProductKind]:
    """Kinds of product the text mentions, in the order of ``ProductKind``."""
    found = []
    for kind, words in PRODUCT_WORDS.items():
        if any(word in text for word in words):
            found.append(kind)
    if ProductKind.AUTO in found and "车上人员" not in text and "出租车" in text:
        found.remove(ProductKind.AUTO)
    return found


def dates(text: str, today: date) -> list[date]:
    found: list[date] = []
    for match in FULL_DATE.finditer(text):
        year, month, day = (int(g) for g in match.groups())
        try:
            found.append(date(year, month, day))
        except ValueError:
            continue
    stripped = FULL_DATE.sub("", text)
    for match in MONTH_DAY.finditer(stripped):
        month, day = int(match.group(1)), int(match.group(2))
        try:
            found.append(date(today.year, month, day))
        except ValueError:
            continue
    for word, offset in RELATIVE_DAYS.items():
        if word in text and not (word == "前天" and "大前天" in text):
            found.append(today + timedelta(days=offset))
    return found


def amounts(text: str) -> list[str]:
    """Amounts in yuan, as text with two places (never float)."""
    from decimal import Decimal

    found = []
    for match in AMOUNT.finditer(text):
        value = Decimal(match.group(1)) * (10_000 if match.group(2).startswith("万") else 1)
        found.append(f"{value.quantize(Decimal('0.01'))}")
    return found


def fill(text: str, today: date) -> dict[str, str]:
    """Every slot found in ``text``, as strings (lists joined by commas)."""
    slots: dict[str, str] = {}
    claims = [m.group(0).upper() for m in CLAIM_NUMBER.finditer(text)]
    policies = [m.group(0).upper() for m in POLICY_NUMBER.finditer(text)]
    if claims:
        slots["claim_number"] = ",".join(claims)
    if policies:
        slots["policy_number"] = ",".join(policies)
    if found := dates(text, today):
        slots["date"] = ",".join(d.isoformat() for d in found)
    if found_amounts := amounts(text):
        slots["amount"] = ",".join(found_amounts)
    if kinds := product_kinds(text):
        slots["product_kind"] = ",".join(kinds)
    if PHONE.search(text):
        slots["phone"] = ",".join(mask_phone(m.group(0)) for m in PHONE.finditer(text))
    return slots
