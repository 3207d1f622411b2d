"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa
import schemas.sql


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('etl_reject',
    sa.Column('reject_id', sa.Integer(), autoincrement=True, nullable=False, comment='surrogate id'),
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the run that quarantined it'),
    sa.Column('source', sa.Text(), autoincrement=False, nullable=False, comment='source system'),
    sa.Column('stream', sa.Text(), autoincrement=False, nullable=False, comment='stream'),
    sa.Column('kind', sa.Text(), autoincrement=False, nullable=False, comment='`record` or `file`'),
    sa.Column('location', sa.Text(), autoincrement=False, nullable=True, comment='file or batch name and record number'),
    sa.Column('record_key', sa.Text(), autoincrement=False, nullable=True, comment="the record's natural key where it could be read"),
    sa.Column('reason', sa.Text(), autoincrement=False, nullable=False, comment='reason code'),
    sa.Column('detail', sa.Text(), autoincrement=False, nullable=False, comment='one sentence naming the source, the record and the reason (no clear personal data)'),
    sa.Column('raw_encrypted', sa.LargeBinary(), autoincrement=False, nullable=True, comment='the raw record, Fernet-encrypted'),
    sa.Column('created_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when it was quarantined'),
    sa.Column('replayed_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='when it was replayed'),
    sa.Column('replay_run_id', sa.Text(), autoincrement=False, nullable=True, comment='the run that replayed it'),
    sa.Column('replay_outcome', sa.Text(), autoincrement=False, nullable=True, comment='what became of it on replay'),
    sa.PrimaryKeyConstraint('reject_id'),
    comment='Quarantined records and files, with the raw record encrypted so it can be replayed after a fix.'
    )
    with op.batch_alter_table('etl_reject', schema=None) as batch_op:
        batch_op.create_index('ix_etl_reject_run_id', ['run_id'], unique=False)
        batch_op.create_index('ix_etl_reject_source_reason', ['source', 'reason'], unique=False)

    op.create_table('etl_run',
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='identifier of the run'),
    sa.Column('stream', sa.Text(), autoincrement=False, nullable=False, comment='`cases` or `evaluations`'),
    sa.Column('source', sa.Text(), autoincrement=False, nullable=False, comment='source system'),
    sa.Column('window_start', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='start of the interval covered (inclusive), if the run had one'),
    sa.Column('window_end', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='end of the interval covered (exclusive), if the run had one'),
    sa.Column('files', sa.Text(), autoincrement=False, nullable=True, comment='JSON list of the files or batches covered, with their declared and read counts'),
    sa.Column('started_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when the run started'),
    sa.Column('finished_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='when the run committed or failed'),
    sa.Column('status', sa.Text(), autoincrement=False, nullable=False, comment='`success` or `failed`'),
    sa.Column('failure_reason', sa.Text(), autoincrement=False, nullable=True, comment='one sentence naming what failed and how to fix it'),
    sa.Column('extracted', sa.Integer(), autoincrement=False, nullable=False, comment='every record occurrence read, valid or not'),
    sa.Column('inserted', sa.Integer(), autoincrement=False, nullable=False, comment='survivors with a new key'),
    sa.Column('updated', sa.Integer(), autoincrement=False, nullable=False, comment='survivors that replaced a smaller stored record'),
    sa.Column('unchanged', sa.Integer(), autoincrement=False, nullable=False, comment='survivors equal to or smaller than the stored record'),
    sa.Column('stale', sa.Integer(), autoincrement=False, nullable=False, comment='of `unchanged`, the survivors strictly smaller than the stored record'),
    sa.Column('quarantined', sa.Integer(), autoincrement=False, nullable=False, comment='record occurrences rejected into etl_reject'),
    sa.Column('duplicates', sa.Integer(), autoincrement=False, nullable=False, comment='repeats of one key within the run beyond the greatest one'),
    sa.Column('declared_total', sa.Integer(), autoincrement=False, nullable=True, comment='what the source said it delivered (trailers, totals), where it says'),
    sa.Column('notes', sa.Text(), autoincrement=False, nullable=True, comment='JSON object of findings to report (e.g. keys a correction lacked)'),
    sa.PrimaryKeyConstraint('run_id', 'stream'),
    comment='The run ledger: one row per run and stream; extracted = inserted + updated + unchanged + quarantined + duplicates.'
    )
    with op.batch_alter_table('etl_run', schema=None) as batch_op:
        batch_op.create_index('ix_etl_run_source_started_at', ['source', 'started_at'], unique=False)

    op.create_table('etl_watermark',
    sa.Column('source', sa.Text(), autoincrement=False, nullable=False, comment='source system'),
    sa.Column('stream', sa.Text(), autoincrement=False, nullable=False, comment='stream'),
    sa.Column('position', sa.Text(), autoincrement=False, nullable=False, comment='what was processed: a file name, `window_end`, `cursor`, a batch number'),
    sa.Column('value', sa.Text(), autoincrement=False, nullable=True, comment='the committed value (window end, cursor, file date…)'),
    sa.Column('fingerprint', sa.Text(), autoincrement=False, nullable=True, comment='SHA-256 of a processed file or batch'),
    sa.Column('outcome', sa.Text(), autoincrement=False, nullable=True, comment='`loaded` or `quarantined` (a file or batch quarantined whole)'),
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the run that committed it'),
    sa.Column('updated_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when it was committed'),
    sa.PrimaryKeyConstraint('source', 'stream', 'position'),
    comment='Committed positions per source and stream: hrss one row per processed file (position = file name, fingerprint = SHA-256); APIs the last window end; medins (UPDATE_TIME, id); police batch numbers.'
    )
    op.create_table('service_case',
    sa.Column('case_no', sa.Text(), autoincrement=False, nullable=False, comment='办件编号 / 申办流水号 as issued by the source system'),
    sa.Column('source_system', sa.Text(), autoincrement=False, nullable=False, comment='market, medins, hrss, police or tax'),
    sa.Column('source_record_id', sa.Text(), autoincrement=False, nullable=True, comment="the row's id in the source system; NULL where the source has none"),
    sa.Column('source_version', sa.Integer(), autoincrement=False, nullable=False, comment="the source's data version (DATAVER) where it has one, else 1"),
    sa.Column('impl_code', sa.Text(), autoincrement=False, nullable=True, comment='实施编码, 31 characters (a 33-character code is cut to 31)'),
    sa.Column('item_name', sa.Text(), autoincrement=False, nullable=True, comment='事项名称'),
    sa.Column('case_type', sa.Integer(), autoincrement=False, nullable=True, comment='办件类型'),
    sa.Column('applicant_type', sa.Integer(), autoincrement=False, nullable=True, comment='申请人类型'),
    sa.Column('applicant_cert_type', sa.Text(), autoincrement=False, nullable=True, comment='申请人证件类型'),
    sa.Column('applicant_key', sa.Text(), autoincrement=False, nullable=True, comment='keyed HMAC-SHA256 pseudonym of the normalized certificate number'),
    sa.Column('applicant_cert_masked', sa.Text(), autoincrement=False, nullable=True, comment='masked certificate number; a USCC stays in clear'),
    sa.Column('applicant_name_masked', sa.Text(), autoincrement=False, nullable=True, comment='masked personal name; organisation names in clear'),
    sa.Column('contact_phone_masked', sa.Text(), autoincrement=False, nullable=True, comment='masked phone number'),
    sa.Column('channel', sa.Integer(), autoincrement=False, nullable=True, comment='办理形式 / 申报渠道'),
    sa.Column('apply_time', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='申报时间'),
    sa.Column('accept_time', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='受理时间'),
    sa.Column('finish_time', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='办结时间'),
    sa.Column('promise_days', sa.Integer(), autoincrement=False, nullable=True, comment='承诺办结时限 in working days'),
    sa.Column('status', sa.Text(), autoincrement=False, nullable=False, comment='unified 办件状态'),
    sa.Column('accept_org_code', sa.Text(), autoincrement=False, nullable=True, comment='受理部门 统一社会信用代码'),
    sa.Column('region_code', sa.Text(), autoincrement=False, nullable=True, comment='6-digit GB/T 2260 code'),
    sa.Column('fee_yuan', schemas.sql.Money(precision=16, scale=2), autoincrement=False, nullable=True, comment='fee charged in yuan, exactly 2 decimals; NULL where the source has no fee field'),
    sa.Column('bundle_id', sa.Text(), autoincrement=False, nullable=True, comment='一件事一次办 bundle instance'),
    sa.Column('deleted', sa.Boolean(), autoincrement=False, nullable=False, comment='set only when the source deletes the record'),
    sa.Column('source_updated_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment="the source's own last-update time of the record"),
    sa.Column('delivery_order', sa.Text(), autoincrement=False, nullable=False, comment='third precedence component: hrss `yyyyMMdd.nnn.rrrrrrrrr` (file date, correction, record), police `ssssss.iiiiiii` (batch, element), `0` elsewhere; fixed width, compared as text'),
    sa.Column('loaded_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when the store last changed this row'),
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the load run that last changed this row'),
    sa.PrimaryKeyConstraint('case_no'),
    comment='办件: one row per case, the latest known state (natural key `case_no`).'
    )
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.create_index('ix_service_case_source_system_source_updated_at', ['source_system', 'source_updated_at'], unique=False)

    op.create_table('service_evaluation',
    sa.Column('source_system', sa.Text(), autoincrement=False, nullable=False, comment='market, medins, hrss, police or tax'),
    sa.Column('eval_no', sa.Text(), autoincrement=False, nullable=False, comment="the source's evaluation id, or case_no#assess_number"),
    sa.Column('case_no', sa.Text(), autoincrement=False, nullable=True, comment='the evaluated case (may arrive before the case)'),
    sa.Column('source_version', sa.Integer(), autoincrement=False, nullable=False, comment="the source's data version where it has one, else 1"),
    sa.Column('assess_number', sa.Integer(), autoincrement=False, nullable=False, comment='评价次数: 1 first evaluation, 2 follow-up'),
    sa.Column('score', sa.Integer(), autoincrement=False, nullable=False, comment='1 非常不满意 … 5 非常满意'),
    sa.Column('score_raw', sa.Text(), autoincrement=False, nullable=False, comment='the value exactly as the source sent it'),
    sa.Column('channel', sa.Integer(), autoincrement=False, nullable=True, comment='评价渠道; NULL for a default evaluation'),
    sa.Column('is_default', sa.Boolean(), autoincrement=False, nullable=False, comment='默认评价 given by the system'),
    sa.Column('option_codes', sa.Text(), autoincrement=False, nullable=True, comment='comma-separated 评价选项 codes as sent'),
    sa.Column('comment', sa.Text(), autoincrement=False, nullable=True, comment='文字评价 with ID and phone numbers masked'),
    sa.Column('evaluator_key', sa.Text(), autoincrement=False, nullable=True, comment="keyed pseudonym of the evaluator's certificate number"),
    sa.Column('assess_time', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=True, comment='评价时间'),
    sa.Column('deleted', sa.Boolean(), autoincrement=False, nullable=False, comment='set when the source deletes the evaluation'),
    sa.Column('source_updated_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment="the source's own last-update time of the record"),
    sa.Column('delivery_order', sa.Text(), autoincrement=False, nullable=False, comment='third precedence component: hrss `yyyyMMdd.nnn.rrrrrrrrr` (file date, correction, record), police `ssssss.iiiiiii` (batch, element), `0` elsewhere; fixed width, compared as text'),
    sa.Column('loaded_at', schemas.sql.Instant(timezone=True), autoincrement=False, nullable=False, comment='when the store last changed this row'),
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the load run that last changed this row'),
    sa.PrimaryKeyConstraint('source_system', 'eval_no'),
    comment='好差评: one row per evaluation (natural key `source_system`, `eval_no`).'
    )
    with op.batch_alter_table('service_evaluation', schema=None) as batch_op:
        batch_op.create_index('ix_service_evaluation_case_no', ['case_no'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('service_evaluation', schema=None) as batch_op:
        batch_op.drop_index('ix_service_evaluation_case_no')

    op.drop_table('service_evaluation')
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_index('ix_service_case_source_system_source_updated_at')

    op.drop_table('service_case')
    op.drop_table('etl_watermark')
    with op.batch_alter_table('etl_run', schema=None) as batch_op:
        batch_op.drop_index('ix_etl_run_source_started_at')

    op.drop_table('etl_run')
    with op.batch_alter_table('etl_reject', schema=None) as batch_op:
        batch_op.drop_index('ix_etl_reject_source_reason')
        batch_op.drop_index('ix_etl_reject_run_id')

    op.drop_table('etl_reject')
