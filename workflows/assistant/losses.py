"""Documents per kind of loss, from the products' own terms in the database (each
product's ``loss_types`` checklist, the one claims use), never a copy: a product's
checklist changed is answered changed at once.

What is ours here is only the vocabulary that maps a customer's words to a loss type's
code ("撞车" → COLLISION); the names and documents come from the product."""

from __future__ import annotations

from typing import Any

from models.policies import Product
from workflows.assistant.personal import Answer
from workflows.assistant.slots import product_kinds

LOSS_WORDS: dict[str, tuple[str, ...]] = {
    "COLLISION": ("碰撞", "撞车", "撞了", "追尾", "刮蹭", "剐蹭", "车祸", "撞"),
    "THEFT": ("盗抢", "车被偷", "车丢", "车被盗", "全车盗"),
    "GLASS": ("玻璃",),
    "HOSPITALISATION": ("住院", "手术", "出院"),
    "OUTPATIENT": ("门诊", "化疗", "透析"),
    "ACCIDENTAL_INJURY": ("意外医疗", "摔伤", "扭伤", "受伤", "骨折", "咬伤", "意外受伤"),
    "ACCIDENTAL_DEATH": ("身故", "去世", "死亡", "过世"),
    "FIRE": ("火灾", "着火", "爆炸", "失火"),
    "WATER_DAMAGE": ("水管", "漏水", "泡水", "爆管", "水淹"),
    "BURGLARY": ("入室", "家里被偷", "家被盗", "盗窃"),
    "FLIGHT_DELAY": ("航班延误", "延误", "航班取消"),
    "BAGGAGE_LOSS": ("行李",),
    "MEDICAL_ABROAD": ("境外医疗", "境外就医", "国外看病", "国外生病", "境外看病", "出国看病"),
}


def mentions_loss(text: str) -> bool:
    return any(word in text for words in LOSS_WORDS.values() for word in words)


def _wanted(text: str) -> list[str]:
    return [code for code, words in LOSS_WORDS.items() if any(w in text for w in words)]


def _line(product: Product, loss: dict[str, Any]) -> str:
    required = [d["name"] for d in loss["documents"] if d["required"]]
    optional = [d["name"] for d in loss["documents"] if not d["required"]]
    line = f"{product.name}「{loss['name']}」需要：{'、'.join(required)}"
    if optional:
        line += f"；可选：{'、'.join(optional)}"
    return line


async def loss_documents(text: str) -> Answer | None:
    """The checklist of every product loss type the text names (narrowed to the product
    kinds it names); None when it names none the products know."""
    codes = _wanted(text)
    if not codes:
        return None
    kinds = product_kinds(text)
    products = await Product.all().order_by("code")
    matching = [
        (product, loss)
        for product in products
        for loss in product.loss_types
        if loss["code"] in codes
    ]
    # The kinds named narrow the answer, unless they leave nothing ("国外看病" names
    # a medical word and a travel loss).
    narrowed = [(p, loss) for p, loss in matching if p.kind in kinds] if kinds else matching
    lines = [_line(p, loss) for p, loss in (narrowed or matching)]
    if not lines:
        return None
    return Answer(
        "；".join(lines[:4])
        + "。（依据产品条款的理赔材料清单，报案后案件页会列出您这个案件的完整清单，"
        "个别案件理赔人员可能要求补充其他材料。）",
        0.85,
    )
