"""The policy lookup's reads as rows, not model objects (issue 19): a page of policies
with product and holder in one statement (``PAGE_COLUMNS``), and everything that hangs
off any number of policies (coverages, insured persons, beneficiaries, installments) in
one more (``read_children``). The rows carry the models' attribute names and values
converted by the models' own fields, so the schema builds the same answer from either.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from models import policies as m
from models import raw
from models.customers import Customer
from schema.common import PAGE_TOTAL
from workflows.access import CUSTOMER_VISIBLE_SQL, customer_visible_params

# What a policy answer needs, read with ``QuerySet.values`` (one JOIN each for the
# product and the holder).
PRODUCT_COLUMNS = (
    "id",
    "code",
    "name",
    "kind",
    "description",
    "report_time_limit_hours",
    "cooling_off_days",
    "renewable",
    "loss_types",
)
HOLDER_COLUMNS = ("name", "phone_masked", "id_number_masked")
PAGE_COLUMNS = (
    "id",
    "number",
    "status",
    "starts_at",
    "ends_at",
    "issued_at",
    "sum_insured",
    "premium",
    "payment_frequency",
    "holder_id",
    *(f"product__{name}" for name in PRODUCT_COLUMNS),
    *(f"holder__{name}" for name in HOLDER_COLUMNS),
)


# The same page as ``visible_policies(customer)`` ordered and read with ``PAGE_COLUMNS``
# (and the total by a window, as ``schema.common.page_of``), without the query builder.
PAGE_SQL = """
SELECT p.id, p.number, p.status, p.starts_at, p.ends_at, p.issued_at, p.sum_insured,
       p.premium, p.payment_frequency, p.holder_id, {product}, {holder},
       COUNT(*) OVER () AS {total}
FROM policy p
JOIN product pr ON pr.id = p.product_id
JOIN customer h ON h.id = p.holder_id
WHERE {visible}{narrow}
ORDER BY p.starts_at DESC, p.number ASC
LIMIT :limit OFFSET :offset
"""
_PAGE_MODELS = (
    *((name, m.Policy, name) for name in PAGE_COLUMNS[:10]),
    *((f"product__{name}", m.Product, name) for name in PRODUCT_COLUMNS),
    *((f"holder__{name}", Customer, name) for name in HOLDER_COLUMNS),
)
_PAGE_KEYS = (*PAGE_COLUMNS, PAGE_TOTAL)  # the statement's columns, in order
# Passed on as the database gives it (JSON text): ``Product.loss_types`` decodes it with
# the model's own field if the query asks; a page of ten decoded it ten times for nothing.
RAW_COLUMNS = ("product__loss_types",)


@cache  # four texts; the same object each time also keeps its hash for raw's cache
def _page_sql(statuses: bool, kinds: bool) -> str:
    narrow = ("\n  AND p.status = ANY(:statuses)" if statuses else "") + (
        "\n  AND pr.kind = ANY(:kinds)" if kinds else ""
    )
    return PAGE_SQL.format(
        product=", ".join(f"pr.{name} AS product__{name}" for name in PRODUCT_COLUMNS),
        holder=", ".join(f"h.{name} AS holder__{name}" for name in HOLDER_COLUMNS),
        total=PAGE_TOTAL,
        visible=CUSTOMER_VISIBLE_SQL,
        narrow=narrow,
    )


@cache
def _page_conversions() -> tuple[tuple[int, str, raw.Converter], ...]:
    """``(position, key, converter)`` of the page's columns whose value the model's field
    converts; the others (``RAW_COLUMNS``, plain text) are taken as the driver gives them."""
    return tuple(
        (position, key, raw.converter(model, name))
        for position, (key, model, name) in enumerate(_PAGE_MODELS)
        if key not in RAW_COLUMNS and not raw.passes_through(model, name)
    )


async def read_customer_page(
    customer_id: uuid.UUID,
    *,
    start: int,
    limit: int,
    statuses: list[str] | None = None,
    kinds: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows ``visible_policies(customer)`` pages forwards (``PAGE_COLUMNS`` and the
    total), narrowed to ``statuses`` and product ``kinds`` when given; ``RAW_COLUMNS``
    as the database gives them."""
    sql = _page_sql(bool(statuses), bool(kinds))
    params: dict[str, Any] = customer_visible_params(customer_id)
    params.update(limit=limit, offset=start, statuses=statuses, kinds=kinds)
    rows = await raw.records(m.Policy, sql, **params)  # PAGE_COLUMNS, then the total
    conversions = _page_conversions()
    answers = []
    for row in rows:
        answer = dict(zip(_PAGE_KEYS, row, strict=True))
        for position, key, convert in conversions:
            answer[key] = convert(row[position])
        answers.append(answer)
    return answers


@dataclass(slots=True)
class CoverageRow:
    id: str  # as text: it is only shown (in the global ID)
    code: str
    name: str
    sum_insured: Decimal
    deductible: Decimal
    used_amount: Decimal


@dataclass(slots=True)
class InsuredRow:
    id: str  # as text: it is only shown (in the global ID)
    name: str
    id_number_masked: str
    relation_to_holder: str
    covered_until: date | None
    customer_id: str | None  # as text: only compared with the caller's


@dataclass(slots=True)
class BeneficiaryRow:
    id: str  # as text: it is only shown (in the global ID)
    name: str
    id_number_masked: str
    relation_to_insured: str
    share_percent: Decimal
    customer_id: str | None  # as text: only compared with the caller's


@dataclass(slots=True)
class InstallmentRow:
    id: str  # as text: it is only shown (in the global ID)
    sequence: int
    due_date: date
    amount: Decimal
    paid_at: datetime | None
    cancelled_at: datetime | None


@dataclass(slots=True)
class PolicyChildren:
    """One policy's lists, each in the policy schedule's order."""

    coverages: list[CoverageRow] = field(default_factory=list)
    insured: list[InsuredRow] = field(default_factory=list)
    beneficiaries: list[BeneficiaryRow] = field(default_factory=list)
    installments: list[InstallmentRow] = field(default_factory=list)


# One statement for the four child tables. Each column holds one type in every branch
# (t: text, n: decimal, d: date, ts: time) so both databases return it as the column of
# the model it comes from (PostgreSQL types a UNION pair by pair: the times, null in the
# first two branches, are cast).
CHILDREN_SQL = """
SELECT 'C' AS kind, policy_id, id, position AS seq, code AS t1, name AS t2, NULL AS t3,
       sum_insured AS n1, deductible AS n2, used_amount AS n3, NULL AS d1,
       CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS ts1,
       CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS ts2, NULL AS customer_id
FROM coverage WHERE policy_id = ANY(:ids)
UNION ALL
SELECT 'I', policy_id, id, position, name, id_number_masked, relation_to_holder,
       NULL, NULL, NULL, covered_until, NULL, NULL, customer_id
FROM insured_person WHERE policy_id = ANY(:ids)
UNION ALL
SELECT 'B', policy_id, id, position, name, id_number_masked, relation_to_insured,
       share_percent, NULL, NULL, NULL, NULL, NULL, customer_id
FROM beneficiary WHERE policy_id = ANY(:ids)
UNION ALL
SELECT 'P', policy_id, id, sequence, NULL, NULL, NULL,
       amount, NULL, NULL, due_date, paid_at, cancelled_at, NULL
FROM premium_installment WHERE policy_id = ANY(:ids)
ORDER BY seq, id
"""


@dataclass(frozen=True, slots=True)
class _ChildConverters:
    """The models' own conversions of the child columns, looked up once (a page has
    ~230 child values: one cache lookup each cost as much as the conversion)."""

    coverage_sum_insured: raw.Converter
    coverage_deductible: raw.Converter
    coverage_used_amount: raw.Converter
    covered_until: raw.Converter
    share_percent: raw.Converter
    due_date: raw.Converter
    amount: raw.Converter
    paid_at: raw.Converter
    cancelled_at: raw.Converter


@cache
def _child_converters() -> _ChildConverters:
    c, p = m.Coverage, m.PremiumInstallment
    return _ChildConverters(
        coverage_sum_insured=raw.converter(c, "sum_insured"),
        coverage_deductible=raw.converter(c, "deductible"),
        coverage_used_amount=raw.converter(c, "used_amount"),
        covered_until=raw.converter(m.InsuredPerson, "covered_until"),
        share_percent=raw.converter(m.Beneficiary, "share_percent"),
        due_date=raw.converter(p, "due_date"),
        amount=raw.converter(p, "amount"),
        paid_at=raw.converter(p, "paid_at"),
        cancelled_at=raw.converter(p, "cancelled_at"),
    )


def _text(value: Any) -> str | None:
    """An ID as text (SQLite gives text, PostgreSQL a UUID)."""
    return value if value is None or value.__class__ is str else str(value)


async def read_children(policy_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PolicyChildren]:
    """The lists of each policy (an empty one for a policy without any). Rows are read
    by position (``CHILDREN_SQL``'s column order), IDs kept as text."""
    ids = list(policy_ids)
    found: dict[uuid.UUID, PolicyChildren] = {i: PolicyChildren() for i in ids}
    if not ids:
        return found
    by_text = {str(i): kids for i, kids in found.items()}  # SQLite gives IDs as text
    to = _child_converters()
    rows = await raw.records(m.Coverage, CHILDREN_SQL, ids=ids)
    for kind, policy_id, row_id, seq, t1, t2, t3, n1, n2, n3, d1, ts1, ts2, customer in rows:
        kids = by_text[policy_id] if policy_id.__class__ is str else found[policy_id]
        if kind == "C":
            kids.coverages.append(
                CoverageRow(
                    str(row_id),
                    t1,
                    t2,
                    to.coverage_sum_insured(n1),
                    to.coverage_deductible(n2),
                    to.coverage_used_amount(n3),
                )
            )
        elif kind == "I":
            kids.insured.append(
                InsuredRow(str(row_id), t1, t2, t3, to.covered_until(d1), _text(customer))
            )
        elif kind == "B":
            kids.beneficiaries.append(
                BeneficiaryRow(str(row_id), t1, t2, t3, to.share_percent(n1), _text(customer))
            )
        else:
            kids.installments.append(
                InstallmentRow(
                    str(row_id),
                    int(seq),
                    to.due_date(d1),
                    to.amount(n1),
                    to.paid_at(ts1) if ts1 is not None else None,
                    to.cancelled_at(ts2) if ts2 is not None else None,
                )
            )
    return found
