"""Wrap-up of issues 16 and 17: the roadside-arrival promise switched on now that an
evaluator measures it (a row written disabled by ``ensure_defaults`` before)."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops


async def _enable_roadside(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_query(
        "UPDATE service_commitment SET enabled = TRUE WHERE code = 'ROADSIDE_ARRIVAL'"
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0027_members")]

    initial = False

    operations = [
        ops.RunPython(_enable_roadside, ops.RunPython.noop),
    ]
