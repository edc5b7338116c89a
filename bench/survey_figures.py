"""How long the survey figures take on 100,000 answered surveys.

Generates N invitations with responses (a rating, an NPS score and a choice each, over
90 days, 5 product kinds, 3 channels and 20 staff members) straight into a fresh
database, then times ``workflows.surveys.figures`` for every grouping, on SQLite and on
PostgreSQL. Prints rows per second of generation and milliseconds per figure query.

    python bench/survey_figures.py [--responses 100000] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import _harness
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models.customers import Customer
from models.database import migrate_database, open_database
from models.surveys import (
    QuestionKind,
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
)
from workflows import surveys

PG_DATABASE = "anxin_bench_surveys" + _harness.bench_suffix()
KINDS = ["AUTO", "HEALTH", "ACCIDENT", "PROPERTY", "TRAVEL"]
CHANNELS = ["APP", "MINI_PROGRAM", "LINK"]
BATCH = 5_000


async def generate(responses: int) -> float:
    """Write the data in batches; returns seconds taken."""
    rng = random.Random(7)
    started = time.perf_counter()
    template = await surveys.template("CLAIM_SERVICE")
    customer = await Customer.create(
        phone_encrypted="x", phone_hash=uuid.uuid4().hex, phone_masked="138****0000"
    )
    staff = [uuid.uuid4() for _ in range(20)]
    now = datetime.now(UTC)
    for offset in range(0, responses, BATCH):
        invitations, replies, answers = [], [], []
        for _ in range(min(BATCH, responses - offset)):
            moment = now - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
            keys = surveys.period_keys(moment)
            kind, channel, staff_id = rng.choice(KINDS), rng.choice(CHANNELS), rng.choice(staff)
            invitation = SurveyInvitation(
                id=uuid.uuid4(),
                template_id=template.id,
                customer_id=customer.id,
                trigger="claim.closed",
                subject_type="claim",
                subject_id=uuid.uuid4().hex,
                token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                expires_at=moment,
                answered_at=moment,
                product_kind=kind,
                staff_id=staff_id,
                **keys,
            )
            reply = SurveyResponse(
                id=uuid.uuid4(),
                invitation_id=invitation.id,
                template_id=template.id,
                answers={},
                answers_hash="-",
                channel=channel,
            )
            common = {
                "response_id": reply.id,
                "channel": channel,
                "product_kind": kind,
                "staff_id": staff_id,
                **keys,
            }
            answers += [
                SurveyAnswer(
                    question_id="q1",
                    kind=QuestionKind.RATING,
                    number=rng.choices([1, 2, 3, 4, 5], [3, 4, 10, 38, 45])[0],
                    **common,
                ),
                SurveyAnswer(
                    question_id="q2", kind=QuestionKind.NPS, number=rng.randint(0, 10), **common
                ),
                SurveyAnswer(
                    question_id="q3",
                    kind=QuestionKind.SINGLE_CHOICE,
                    choice=rng.choice(["fast", "ok", "slow"]),
                    **common,
                ),
            ]
            invitations.append(invitation)
            replies.append(reply)
        await SurveyInvitation.bulk_create(invitations)
        await SurveyResponse.bulk_create(replies)
        await SurveyAnswer.bulk_create(answers)
    return time.perf_counter() - started


async def measure(url: str, responses: int) -> None:
    # Tortoise caches executors (and SQLite's "?" placeholders) per process: start clean.
    EXECUTOR_CACHE.clear()
    await migrate_database(url)
    async with open_database(url):
        seconds = await generate(responses)
        print(f"  generated {responses:,} responses ({responses * 3:,} answers) in {seconds:.1f} s")
        first = (datetime.now(UTC) - timedelta(days=91)).strftime("%Y-%m-%d")
        last = datetime.now(UTC).strftime("%Y-%m-%d")
        for group in surveys.FigureGroup:
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                rows = await surveys.figures(group, first, last)
                timings.append(time.perf_counter() - started)
            total = sum(f.responses for f in rows)
            print(
                f"  {group.name:<13} {len(rows):>4} groups  best {min(timings) * 1000:8.1f} ms"
                f"  (responses counted {total:,})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    _harness.run_on_backends(lambda url: measure(url, args.responses), args.backend, PG_DATABASE)


if __name__ == "__main__":
    main()
