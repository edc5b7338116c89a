"""Wrap-up of issues 16 and 17: the roadside-arrival promise switched on now that an
evaluator measures it (a row written disabled by ``ensure_defaults`` before); the
promises editable by staff at a version; each case keeps the terms it was opened with
(existing cases get their promise's terms of today, the only ones they ever had)."""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


async def _enable_roadside(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_query(
        "UPDATE service_commitment SET enabled = TRUE WHERE code = 'ROADSIDE_ARRIVAL'"
    )


async def _case_terms(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_query(
        "UPDATE commitment_case SET"
        " title = (SELECT s.title FROM service_commitment s"
        " WHERE s.id = commitment_case.commitment_id),"
        " working_days = (SELECT s.working_days FROM service_commitment s"
        " WHERE s.id = commitment_case.commitment_id),"
        " minutes = (SELECT s.minutes FROM service_commitment s"
        " WHERE s.id = commitment_case.commitment_id),"
        " goodwill_points = (SELECT s.goodwill_points FROM service_commitment s"
        " WHERE s.id = commitment_case.commitment_id)"
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0027_members")]

    initial = False

    operations = [
        ops.RunPython(_enable_roadside, ops.RunPython.noop),
        ops.AddField(
            model_name="CommitmentCase",
            name="goodwill_points",
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name="CommitmentCase",
            name="title",
            field=fields.CharField(default="", db_default="", max_length=64),
        ),
        ops.AddField(
            model_name="CommitmentCase",
            name="minutes",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="CommitmentCase",
            name="working_days",
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name="ServiceCommitment",
            name="updated_by_id",
            field=fields.UUIDField(null=True),
        ),
        ops.AddField(
            model_name="ServiceCommitment",
            name="version",
            field=fields.IntField(default=1, db_default=1),
        ),
        ops.RunPython(_case_terms, ops.RunPython.noop),
    ]
