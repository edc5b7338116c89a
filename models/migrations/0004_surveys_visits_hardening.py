"""Recovery tasks: one open task per customer and subject (``open_key``). Visits: the
agreed call time that the phone reveal goes by (``agreed_due_at``). Survey links:
tokens are derived, not stored (``token_hash`` only for older invitations), and the
tokens and links that earlier events and inbox entries carried are purged."""

import json
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

SECRET_KEYS = ("survey_token", "survey_link")
LINKED_KINDS = ("survey.invited", "visit.email")


def _as_dict(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, (str, bytes)) else dict(value or {})


async def purge_survey_secrets(client: Any) -> int:
    """Remove survey tokens and links from stored events and inbox entries; returns how
    many rows changed (0 when run again)."""
    postgres = client.capabilities.dialect == "postgres"

    def marks(n: int) -> list[str]:
        return [f"${i}" if postgres else "?" for i in range(1, n + 1)]

    kinds = ", ".join(f"'{kind}'" for kind in LINKED_KINDS)
    changed = 0
    events = await client.execute_query_dict(
        f"SELECT id, payload FROM outbox_event WHERE event_type IN ({kinds})"
    )
    for row in events:
        payload = _as_dict(row["payload"])
        if any(key in payload for key in SECRET_KEYS):
            clean = {k: v for k, v in payload.items() if k not in SECRET_KEYS}
            a, b = marks(2)
            await client.execute_query(
                f"UPDATE outbox_event SET payload = {a} WHERE id = {b}",
                [json.dumps(clean, ensure_ascii=False), row["id"]],
            )
            changed += 1
    entries = await client.execute_query_dict(
        f"SELECT id, body, deep_link, data FROM notification WHERE kind IN ({kinds})"
    )
    for row in entries:
        data = _as_dict(row["data"])
        secrets = [str(data[key]) for key in SECRET_KEYS if key in data]
        if not secrets:
            continue
        body, deep_link = row["body"], row["deep_link"]
        for secret in secrets:
            body = body.replace(secret, "")
            if secret in deep_link:
                deep_link = f"anxin://surveys/{data.get('invitation_id', '')}"
        clean = {k: v for k, v in data.items() if k not in SECRET_KEYS}
        a, b, c, d = marks(4)
        await client.execute_query(
            f"UPDATE notification SET body = {a}, deep_link = {b}, data = {c} WHERE id = {d}",
            [body, deep_link, json.dumps(clean, ensure_ascii=False), str(row["id"])],
        )
        changed += 1
    return changed


async def _purge(apps: Any, schema_editor: Any) -> None:
    await purge_survey_secrets(schema_editor.client)


class Migration(migrations.Migration):
    dependencies = [('models', '0003_one_live_payout_one_open_order')]

    initial = False

    operations = [
        ops.AddField(
            model_name='FollowUpVisit',
            name='agreed_due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='RecoveryTask',
            name='open_key',
            field=fields.CharField(null=True, unique=True, max_length=160),
        ),
        ops.AlterField(
            model_name='SurveyInvitation',
            name='token_hash',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.RunPython(_purge, ops.RunPython.noop),
    ]
