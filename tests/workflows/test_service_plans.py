"""The service-plan rules as data: every condition reads a fact that exists and has a
Chinese label, every reason formats, codes are unique, and the questionnaire's keys
are the answers' fields."""

from __future__ import annotations

import dataclasses
import re

from workflows.policy_service import service_plans as flows


def _facts() -> dict[str, object]:
    answers = flows.Answers(
        True, (4,), 1, flows.IncomeBand.OVER_1M, False, True, True, flows.RiskAttitude.BALANCED
    )
    return flows.facts_of(answers, flows.Cover())


def test_every_rule_reads_known_facts_with_labels() -> None:
    facts = _facts()
    for rule in (*flows.GAP_RULES, *flows.SERVICE_RULES):
        for name, operator, _ in rule.when:
            assert name in facts, (rule.code, name)
            assert name in flows.FACT_LABELS, (rule.code, name)
            assert operator in ("==", ">=", "in"), rule.code
    assert set(facts) == set(flows.FACT_LABELS)


def test_reasons_format_and_codes_are_unique() -> None:
    facts = _facts()
    for rule in flows.GAP_RULES:
        text = rule.reason.format(**facts)
        assert "{" not in text and re.search("[\u4e00-\u9fff]", text), rule.code
    codes = [r.code for r in flows.GAP_RULES] + [r.code for r in flows.SERVICE_RULES]
    assert len(codes) == len(set(codes))


def test_questionnaire_keys_are_the_answers_fields() -> None:
    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    fields = {camel(f.name) for f in dataclasses.fields(flows.Answers)}
    assert fields == {q.key for q in flows.QUESTIONS}


def test_no_cover_and_a_family_fires_the_breadwinner_rule_with_its_facts() -> None:
    gaps, services = flows.evaluate(_facts())
    by_code = {g["code"]: g for g in gaps}
    assert by_code["BREADWINNER_NO_ACCIDENT"]["facts"] == {
        "dependents": 3,
        "self_accident_cover": False,
    }
    assert "NO_MEDICAL_COVER" in by_code and "SELF_NO_HEALTH" not in by_code
    assert [g["priority"] for g in gaps] == sorted(
        (g["priority"] for g in gaps), key=list(flows.Priority).index
    )
    assert "FAMILY_DOCTOR" in [s["code"] for s in services]
