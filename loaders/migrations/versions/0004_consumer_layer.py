"""consumer layer: code_value, calendar_day, access-path indexes, views

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-28

The views are those of schemas/views.py as created by loaders.views; a later
migration that changes a view calls `create_views` again.
"""

from alembic import op
import sqlalchemy as sa

from loaders.views import create_views, drop_views, fill_calendar, fill_code_values


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_INDEXES = {
    'service_case': ('applicant_key', 'apply_time', 'status', 'bundle_id', 'source_updated_at'),
    'service_evaluation': ('source_updated_at',),
}


def upgrade() -> None:
    op.create_table('code_value',
    sa.Column('code_set', sa.Text(), autoincrement=False, nullable=False, comment='the code set, e.g. `channel`, `eval_channel`, `case_status`, `source_system`'),
    sa.Column('code', sa.Text(), autoincrement=False, nullable=False, comment='the unified code as text, e.g. `2`, `completed`, `hrss`'),
    sa.Column('name_zh', sa.Text(), autoincrement=False, nullable=False, comment='its name in Chinese'),
    sa.Column('name_en', sa.Text(), autoincrement=False, nullable=False, comment='its name in English'),
    sa.PrimaryKeyConstraint('code_set', 'code'),
    comment='The names of every unified code (schemas/codes.py), for joins: `code_set` is the code set a column names in this dictionary (`channel`, `case_status`…) or `source_system`; integer codes are stored as text (join with CAST(column AS TEXT)). Filled by the migrations.'
    )
    op.create_table('calendar_day',
    sa.Column('day', sa.Date(), autoincrement=False, nullable=False, comment='the date (Beijing)'),
    sa.Column('is_workday', sa.Boolean(), autoincrement=False, nullable=False, comment='whether the date is a working day'),
    sa.Column('workday_number', sa.Integer(), autoincrement=False, nullable=False, comment='working days from the calendar\'s first day up to and including this one: the working days after day a up to and including day b are workday_number(b) − workday_number(a)'),
    sa.PrimaryKeyConstraint('day'),
    comment="Working-day calendar for 按时办结 (on-time completion): one row per date from 2000-01-01 to 2049-12-31, filled by the migration with Monday–Friday as working days. Public holidays and 调休 working weekends are not flagged; an operator may set `is_workday` for them and then renumber `workday_number` (docs/querying.md, 'Holidays'), and every view that counts working days follows."
    )
    for table, columns in _INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.create_index(f'ix_{table}_{column}', [column], unique=False)

    connection = op.get_bind()
    fill_code_values(connection)
    fill_calendar(connection)
    create_views(connection)


def downgrade() -> None:
    drop_views(op.get_bind())
    for table, columns in _INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(f'ix_{table}_{column}')
    op.drop_table('calendar_day')
    op.drop_table('code_value')
