"""dq_result

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa
import schemas.sql


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dq_result',
    sa.Column('result_id', sa.Integer(), autoincrement=True, nullable=False, comment='surrogate id'),
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the run whose batch was checked'),
    sa.Column('source', sa.Text(), autoincrement=False, nullable=False, comment='source system'),
    sa.Column('stream', sa.Text(), autoincrement=False, nullable=False, comment='stream'),
    sa.Column('expectation', sa.Text(), autoincrement=False, nullable=False, comment='expectation type, e.g. expect_column_values_to_be_in_set'),
    sa.Column('column_name', sa.Text(), autoincrement=False, nullable=True, comment='the column checked (first of several), if any'),
    sa.Column('kwargs', sa.Text(), autoincrement=False, nullable=True, comment="JSON of the expectation's arguments"),
    sa.Column('severity', sa.Text(), autoincrement=False, nullable=False, comment='`error` (fails the data) or `warning` (reported, e.g. a case that may still arrive)'),
    sa.Column('observed_value', sa.Text(), autoincrement=False, nullable=True, comment='what was observed, as text'),
    sa.Column('element_count', sa.Integer(), autoincrement=False, nullable=True, comment='rows checked'),
    sa.Column('unexpected_count', sa.Integer(), autoincrement=False, nullable=True, comment='rows that did not meet the expectation'),
    sa.Column('success', sa.Boolean(), autoincrement=False, nullable=False, comment='whether the expectation was met'),
    sa.Column('evaluated_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when it was evaluated'),
    sa.PrimaryKeyConstraint('result_id'),
    comment='Data-quality expectation results: one row per run, stream and expectation evaluated on a unified batch.'
    )
    with op.batch_alter_table('dq_result', schema=None) as batch_op:
        batch_op.create_index('ix_dq_result_run_id', ['run_id'], unique=False)
        batch_op.create_index('ix_dq_result_source_evaluated_at', ['source', 'evaluated_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dq_result', schema=None) as batch_op:
        batch_op.drop_index('ix_dq_result_source_evaluated_at')
        batch_op.drop_index('ix_dq_result_run_id')

    op.drop_table('dq_result')
