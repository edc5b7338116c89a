"""The service assistant's knowledge base (issue 15): FAQ entries and their versions, the
assistant's answers (figures, thumbs up/down) and the questions it could not answer."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.knowledge import EntryStatus, SourceKind, UnansweredReason
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_complaint_calendar')]

    initial = False

    operations = [
        ops.CreateModel(
            name='KnowledgeEntry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('category', fields.CharField(db_index=True, max_length=32)),
                ('question', fields.CharField(max_length=200)),
                ('variants', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answer', fields.TextField(unique=False)),
                ('source_kind', fields.CharEnumField(description='CLAUSE: CLAUSE\nPRODUCT: PRODUCT\nRULE: RULE', enum_type=SourceKind, max_length=16)),
                ('source_ref', fields.CharField(default='', max_length=200)),
                ('product_code', fields.CharField(null=True, max_length=32)),
                ('status', fields.CharEnumField(db_index=True, description='DRAFT: DRAFT\nIN_REVIEW: IN_REVIEW\nPUBLISHED: PUBLISHED\nRETIRED: RETIRED', enum_type=EntryStatus, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('published_version', fields.IntField(null=True)),
                ('helpful', fields.IntField(default=0)),
                ('unhelpful', fields.IntField(default=0)),
                ('created_by', fields.UUIDField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'knowledge_entry', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One FAQ entry. The assistant answers from its published version only.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='AssistantAnswer',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='assistant_answers', on_delete=OnDelete.SET_NULL)),
                ('question', fields.CharField(max_length=500)),
                ('intent', fields.CharField(db_index=True, max_length=32)),
                ('confidence', fields.FloatField()),
                ('handoff', fields.CharField(null=True, max_length=24)),
                ('entry', fields.ForeignKeyField('models.KnowledgeEntry', source_field='entry_id', null=True, db_constraint=True, to_field='id', related_name='answers', on_delete=OnDelete.SET_NULL)),
                ('helpful', fields.BooleanField(null=True)),
            ],
            options={'table': 'assistant_answer', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One reply of the assistant: what it recognised and whether it handed off, for the'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='KnowledgeVersion',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('entry', fields.ForeignKeyField('models.KnowledgeEntry', source_field='entry_id', db_index=True, db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('version', fields.IntField()),
                ('status', fields.CharEnumField(description='DRAFT: DRAFT\nIN_REVIEW: IN_REVIEW\nPUBLISHED: PUBLISHED\nRETIRED: RETIRED', enum_type=EntryStatus, max_length=16)),
                ('category', fields.CharField(max_length=32)),
                ('question', fields.CharField(max_length=200)),
                ('variants', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answer', fields.TextField(unique=False)),
                ('editor_id', fields.UUIDField(null=True)),
                ('note', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'knowledge_version', 'app': 'models', 'unique_together': (('entry', 'version'),), 'pk_attr': 'id', 'table_description': 'The entry as it was at one version: every edit and status change is kept.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='UnansweredQuestion',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('text', fields.CharField(max_length=500)),
                ('normalized', fields.CharField(max_length=500)),
                ('reason', fields.CharEnumField(description='LOW_CONFIDENCE: LOW_CONFIDENCE\nHANDOFF: HANDOFF\nTHUMBS_DOWN: THUMBS_DOWN', enum_type=UnansweredReason, max_length=16)),
                ('intent', fields.CharField(max_length=32)),
                ('cluster', fields.ForeignKeyField('models.UnansweredQuestion', source_field='cluster_id', null=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.SET_NULL)),
                ('resolved_by', fields.ForeignKeyField('models.KnowledgeEntry', source_field='resolved_by_id', null=True, db_constraint=True, to_field='id', related_name='resolved', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'unanswered_question', 'app': 'models', 'pk_attr': 'id', 'table_description': "A question the assistant could not answer well, kept for the knowledge base's"},
            bases=['Entity'],
        ),
    ]
