"""Wrap-up of issues 16 and 17: the roadside-arrival promise switched on now that an
evaluator measures it (a row written disabled by ``ensure_defaults`` before); the
promises editable by staff at a version; each case keeps the terms it was opened with
(existing cases get their promise's terms of today, the only ones they ever had); a
change of a policy the customer never finished expires (EndorsementStatus.EXPIRED), its
unpaid installment cancelled (``premium_installment.cancelled_at``)."""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from models.endorsements import EndorsementStatus

STATUSES = "\n".join(f"{s.value}: {s.value}" for s in EndorsementStatus)


class DescribeEnum(ops.AlterField):
    """EndorsementStatus.EXPIRED changes only the fields' description in the migration
    state: nothing to alter in the database (a VARCHAR of the same length). Tortoise's
    AlterField rebuilds the table on SQLite, which would drop endorsement's unique
    ``open_key`` — one open change per type rests on it (as in 0026)."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


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
    dependencies = [("models", "0029_privacy")]

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
        ops.AddField(
            model_name="PremiumInstallment",
            name="cancelled_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        DescribeEnum(
            model_name="Endorsement",
            name="status",
            field=fields.CharEnumField(
                db_index=True, description=STATUSES, enum_type=EndorsementStatus, max_length=16
            ),
        ),
        DescribeEnum(
            model_name="EndorsementEvent",
            name="from_status",
            field=fields.CharEnumField(
                null=True, description=STATUSES, enum_type=EndorsementStatus, max_length=16
            ),
        ),
        DescribeEnum(
            model_name="EndorsementEvent",
            name="to_status",
            field=fields.CharEnumField(
                description=STATUSES, enum_type=EndorsementStatus, max_length=16
            ),
        ),
    ]
