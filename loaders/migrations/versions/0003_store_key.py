"""store_key

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa
import schemas.sql


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_key',
    sa.Column('purpose', sa.Text(), autoincrement=False, nullable=False, comment='`pseudonym` (applicant_key, evaluator_key) or `quarantine` (etl_reject.raw_encrypted)'),
    sa.Column('suite', sa.Text(), autoincrement=False, nullable=False, comment='crypto suite (SILOBRIDGE_CRYPTO): `standard` or `sm` (国密)'),
    sa.Column('algorithm', sa.Text(), autoincrement=False, nullable=False, comment='HMAC-SHA256 or HMAC-SM3 (pseudonym); Fernet or SM4-GCM (quarantine)'),
    sa.Column('fingerprint', sa.Text(), autoincrement=False, nullable=False, comment="lower-case hex HMAC of a fixed label under the key, by the suite's hash"),
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the run that recorded it'),
    sa.Column('created_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when it was recorded'),
    sa.PrimaryKeyConstraint('purpose'),
    comment='The keys this store was set up with, as fingerprints, never the keys: a run, replay or other writing command with another key or another crypto suite is refused.'
    )


def downgrade() -> None:
    op.drop_table('store_key')
