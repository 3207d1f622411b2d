"""service_case_history: each status a case took in the store

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A store that already holds cases starts the history with each case's stored
status, as if it had been first loaded then (previous_status NULL).
"""

from alembic import op
import sqlalchemy as sa
import schemas.sql


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_case_history',
    sa.Column('case_no', sa.Text(), autoincrement=False, nullable=False, comment='the case (service_case.case_no)'),
    sa.Column('source_updated_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment="the source's update time of the delivery that brought the status"),
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the load run that wrote the change'),
    sa.Column('source_system', sa.Text(), autoincrement=False, nullable=False, comment='market, medins, hrss, police or tax'),
    sa.Column('previous_status', sa.Text(), autoincrement=False, nullable=True, comment='the status before; NULL where the case was new to the store'),
    sa.Column('status', sa.Text(), autoincrement=False, nullable=False, comment='the status from then on'),
    sa.Column('loaded_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when the store recorded the change'),
    sa.PrimaryKeyConstraint('case_no', 'source_updated_at', 'run_id'),
    comment="办件 status history: one row for each status a case took in the store, written by the merge in the run's transaction: the first load of a case, then each later delivery that replaced the stored row (greater by precedence) with another status. Deliveries superseded within one run, or smaller than the stored row, are no change. A store upgraded to it starts with one row per case already stored (its status then). Key (case_no, source_updated_at, run_id): one case's changes in time order."
    )
    op.execute(
        "INSERT INTO service_case_history (case_no, source_updated_at, run_id, source_system, previous_status, "
        "status, loaded_at) SELECT case_no, source_updated_at, run_id, source_system, NULL, status, loaded_at "
        "FROM service_case"
    )


def downgrade() -> None:
    op.drop_table('service_case_history')
