"""A photo's dHash in four indexed 16-bit bands: the upload's near-duplicate check looks
up the few photos that share a band within one bit instead of reading every photo. The
bands of photos already stored are filled in here, in batches."""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops



def hash_bands(phash: str) -> tuple[int, int, int, int]:
    """storage.images.hash_bands as of this migration: four 16-bit bands, high first."""
    value = int(phash, 16)
    return tuple((value >> shift) & 0xFFFF for shift in (48, 32, 16, 0))  # type: ignore[return-value]


async def _fill_bands(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    marks = ["$1", "$2", "$3", "$4", "$5"] if postgres else ["?"] * 5
    update = (
        f"UPDATE claim_document SET phash_band_0 = {marks[0]}, phash_band_1 = {marks[1]}, "
        f"phash_band_2 = {marks[2]}, phash_band_3 = {marks[3]} WHERE id = {marks[4]}"
    )
    while True:
        rows = await client.execute_query_dict(
            "SELECT id, phash FROM claim_document "
            "WHERE phash IS NOT NULL AND phash_band_0 IS NULL LIMIT 1000"
        )
        if not rows:
            return
        await client.execute_many(
            update, [[*hash_bands(row["phash"]), str(row["id"])] for row in rows]
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0027_members')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ClaimDocument',
            name='phash_band_0',
            field=fields.IntField(null=True, db_index=True),
        ),
        ops.AddField(
            model_name='ClaimDocument',
            name='phash_band_1',
            field=fields.IntField(null=True, db_index=True),
        ),
        ops.AddField(
            model_name='ClaimDocument',
            name='phash_band_2',
            field=fields.IntField(null=True, db_index=True),
        ),
        ops.AddField(
            model_name='ClaimDocument',
            name='phash_band_3',
            field=fields.IntField(null=True, db_index=True),
        ),
        ops.RunPython(_fill_bands, ops.RunPython.noop),
    ]
