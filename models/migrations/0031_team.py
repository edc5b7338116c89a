"""The service team (issue 18): teams, their skills and members, leave periods, courses,
certificates, the permissions that need one, expiry warnings and quality reviews.

Each distinct ``staff_user.team`` name becomes a team with those staff as its members;
the column stays as the team's name for the lists that show it, written by
``workflows.team`` together with the membership from now on."""

from datetime import UTC, datetime
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.team import CertificateKind, ReviewSubject, SkillKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

async def _teams_from_names(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"

    def marks(n: int) -> str:
        return ", ".join(f"${i}" if postgres else "?" for i in range(1, n + 1))

    def key(value: Any) -> Any:
        return value if postgres else str(value)

    now = datetime.now(UTC)
    rows = await client.execute_query_dict(
        "SELECT id, team FROM staff_user WHERE team IS NOT NULL AND team <> '' ORDER BY team"
    )
    teams: dict[str, Any] = {}
    for row in rows:
        name = row["team"]
        if name not in teams:
            teams[name] = uuid4()
            await client.execute_query(
                "INSERT INTO team (id, created_at, name, description, version, updated_at)"
                f" VALUES ({marks(6)})",
                [key(teams[name]), now, name, "", 1, now],
            )
        await client.execute_query(
            f"INSERT INTO team_member (id, created_at, team_id, staff_id) VALUES ({marks(4)})",
            [key(uuid4()), now, key(teams[name]), key(row["id"])],
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0030_wrapup')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CertificateRequirement',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('permission', fields.CharField(unique=True, max_length=48)),
                ('kind', fields.CharEnumField(description='CLAIMS_ADJUSTER: CLAIMS_ADJUSTER\nUNDERWRITER: UNDERWRITER\nCOMPLAINT_HANDLER: COMPLAINT_HANDLER\nSERVICE_BASICS: SERVICE_BASICS', enum_type=CertificateKind, max_length=24)),
            ],
            options={'table': 'certificate_requirement', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Data: a permission that needs a valid certificate of ``kind``. A permission with'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Course',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('certificate_kind', fields.CharEnumField(description='CLAIMS_ADJUSTER: CLAIMS_ADJUSTER\nUNDERWRITER: UNDERWRITER\nCOMPLAINT_HANDLER: COMPLAINT_HANDLER\nSERVICE_BASICS: SERVICE_BASICS', enum_type=CertificateKind, max_length=24)),
                ('valid_months', fields.IntField()),
            ],
            options={'table': 'training_course', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A training course: passing it grants a certificate of ``kind`` for a while.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Certificate',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='certificates', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='CLAIMS_ADJUSTER: CLAIMS_ADJUSTER\nUNDERWRITER: UNDERWRITER\nCOMPLAINT_HANDLER: COMPLAINT_HANDLER\nSERVICE_BASICS: SERVICE_BASICS', enum_type=CertificateKind, max_length=24)),
                ('course', fields.ForeignKeyField('models.Course', source_field='course_id', null=True, db_constraint=True, to_field='id', related_name='certificates', on_delete=OnDelete.SET_NULL)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('issued_on', fields.DateField()),
                ('expires_on', fields.DateField(db_index=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('granted_by', fields.UUIDField(null=True)),
            ],
            options={'table': 'staff_certificate', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A qualification a staff member holds until ``expires_on`` (inclusive, Shanghai).'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CertificateWarning',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('certificate', fields.OneToOneField('models.Certificate', source_field='certificate_id', db_constraint=True, to_field='id', related_name='warning', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'certificate_warning', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The one warning before a certificate expires (its key is unique: sent once).'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='QualityReview',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('subject_kind', fields.CharEnumField(description='CLAIM: CLAIM\nCOMPLAINT: COMPLAINT\nVISIT: VISIT', enum_type=ReviewSubject, max_length=16)),
                ('subject_id', fields.UUIDField()),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='quality_reviews', on_delete=OnDelete.CASCADE)),
                ('reviewer', fields.ForeignKeyField('models.StaffUser', source_field='reviewer_id', db_constraint=True, to_field='id', related_name='quality_reviews_given', on_delete=OnDelete.RESTRICT)),
                ('scores', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('score', fields.IntField()),
                ('note', fields.CharField(default='', max_length=1000)),
                ('reviewed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'quality_review', 'app': 'models', 'unique_together': (('subject_kind', 'subject_id'),), 'pk_attr': 'id', 'table_description': "A supervisor's score of one closed case against the checklist, one per case."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='StaffLeave',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='leaves', on_delete=OnDelete.CASCADE)),
                ('starts_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('recorded_by', fields.UUIDField(null=True)),
            ],
            options={'table': 'staff_leave', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A period a staff member is absent (leave, training, sick): never assigned then.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Team',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('description', fields.CharField(default='', max_length=300)),
                ('supervisor', fields.ForeignKeyField('models.StaffUser', source_field='supervisor_id', null=True, db_constraint=True, to_field='id', related_name='supervised_teams', on_delete=OnDelete.SET_NULL)),
                ('version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'team', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A team of service staff: who supervises it, and what it works (its skills).'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='TeamMember',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.RESTRICT)),
                ('staff', fields.OneToOneField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='team_membership', on_delete=OnDelete.CASCADE)),
                ('moved_by', fields.UUIDField(null=True)),
            ],
            options={'table': 'team_member', 'app': 'models', 'pk_attr': 'id', 'table_description': "A staff member's team: ``staff`` is unique, so one team each, whatever races."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='TeamSkill',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', db_constraint=True, to_field='id', related_name='skills', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='LOSS_TYPE: LOSS_TYPE\nCOMPLAINT_CLASS: COMPLAINT_CLASS\nLANGUAGE: LANGUAGE\nCHANNEL: CHANNEL', enum_type=SkillKind, max_length=16)),
                ('value', fields.CharField(max_length=32)),
            ],
            options={'table': 'team_skill', 'app': 'models', 'unique_together': (('team', 'kind', 'value'),), 'pk_attr': 'id', 'table_description': 'One skill of a team (kind + value), a row so assignment filters on it in SQL.'},
            bases=['Entity'],
        ),
        ops.RunPython(_teams_from_names, ops.RunPython.noop),
    ]
