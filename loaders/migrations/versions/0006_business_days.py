"""business days: the run ledger by business day (etl_run_day); column comments for both crypto suites

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Runs written before this revision get one etl_run_day row per successful
etl_run row: on the one Beijing day its files, batches, window or cursor
span name, else (several days, nothing named) on the Beijing day it started,
which is what reconciliation showed before. Comments are only kept by
PostgreSQL; SQLite has none to change.
"""

import json
import re
from datetime import date, timedelta, timezone

from alembic import op
import sqlalchemy as sa
import schemas.sql


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_BEIJING = timezone(timedelta(hours=8))
_DATED = re.compile(r"_([0-9]{4})([0-9]{2})([0-9]{2})[._]")
_COUNTS = ('extracted', 'inserted', 'updated', 'unchanged', 'stale', 'quarantined', 'duplicates')

# (table, column, new comment), and what they said before, for the downgrade.
_COMMENTS = [
    ('service_case', 'applicant_key', 'keyed pseudonym of the normalized certificate number: lower-case hex HMAC-SHA256, or HMAC-SM3 under the sm crypto suite (SILOBRIDGE_CRYPTO=standard|sm; store_key records which)'),
    ('service_evaluation', 'evaluator_key', "keyed pseudonym of the evaluator's certificate number, as applicant_key: HMAC-SHA256 or HMAC-SM3 by the crypto suite"),
    ('etl_reject', 'raw_encrypted', 'the raw record, encrypted: Fernet, or SM4-GCM under the sm crypto suite (store_key records which)'),
    ('etl_watermark', 'stream', 'stream (`batch` for police, whose batches hold both streams)'),
    ('etl_watermark', 'position', 'what was processed: hrss the file name, police the 6-digit batch number, `window_end` (market, tax), `cursor` (medins)'),
    ('etl_watermark', 'value', "the committed value: hrss the file's date, police the batch file name, market and tax the window end (ISO 8601), medins the JSON pair [UPDATE_TIME, id]"),
    ('etl_watermark', 'fingerprint', "what identifies the delivery processed: hrss the file's SHA-256; police a loaded batch's SHA-256, a batch quarantined whole `<SHA-256> manifest:<SHA-256 of its manifest>` (`unread:<bytes>:<mtime ns>` in place of the first for a batch over the size cap); NULL for market, tax and medins"),
    ('etl_watermark', 'outcome', '`loaded` or `quarantined` (a file or batch quarantined whole); NULL for windows and cursors'),
]
_OLD_COMMENTS = {
    ('service_case', 'applicant_key'): 'keyed HMAC-SHA256 pseudonym of the normalized certificate number',
    ('service_evaluation', 'evaluator_key'): "keyed pseudonym of the evaluator's certificate number",
    ('etl_reject', 'raw_encrypted'): 'the raw record, Fernet-encrypted',
    ('etl_watermark', 'stream'): 'stream',
    ('etl_watermark', 'position'): 'what was processed: a file name, `window_end`, `cursor`, a batch number',
    ('etl_watermark', 'value'): 'the committed value (window end, cursor, file date…)',
    ('etl_watermark', 'fingerprint'): 'SHA-256 of a processed file or batch',
    ('etl_watermark', 'outcome'): '`loaded` or `quarantined` (a file or batch quarantined whole)',
}
_WATERMARK_COMMENT = 'Committed positions per source and stream: hrss one row per processed file; police one row per batch number (stream `batch`); market and tax the last committed window end; medins the last (UPDATE_TIME, id) read.'
_OLD_WATERMARK_COMMENT = ('Committed positions per source and stream: hrss one row per processed file (position = '
                          'file name, fingerprint = SHA-256); APIs the last window end; medins (UPDATE_TIME, id); '
                          'police batch numbers.')
_TYPES = {('service_case', 'applicant_key'): sa.Text(), ('service_evaluation', 'evaluator_key'): sa.Text(),
           ('etl_reject', 'raw_encrypted'): sa.LargeBinary()}


def upgrade() -> None:
    op.create_table('etl_run_day',
    sa.Column('run_id', sa.Text(), autoincrement=False, nullable=False, comment='the run (etl_run.run_id)'),
    sa.Column('stream', sa.Text(), autoincrement=False, nullable=False, comment='`cases` or `evaluations`'),
    sa.Column('business_day', sa.Date(), autoincrement=False, nullable=False, comment='the Beijing day the records belong to'),
    sa.Column('source', sa.Text(), autoincrement=False, nullable=False, comment='source system'),
    sa.Column('extracted', sa.Integer(), autoincrement=False, nullable=False, comment='record occurrences of that day read, valid or not'),
    sa.Column('inserted', sa.Integer(), autoincrement=False, nullable=False, comment='of them, survivors with a new key'),
    sa.Column('updated', sa.Integer(), autoincrement=False, nullable=False, comment='survivors that replaced a smaller stored record'),
    sa.Column('unchanged', sa.Integer(), autoincrement=False, nullable=False, comment='survivors equal to or smaller than the stored record'),
    sa.Column('stale', sa.Integer(), autoincrement=False, nullable=False, comment='of `unchanged`, the survivors strictly smaller than the stored record'),
    sa.Column('quarantined', sa.Integer(), autoincrement=False, nullable=False, comment='record occurrences rejected into etl_reject'),
    sa.Column('duplicates', sa.Integer(), autoincrement=False, nullable=False, comment='occurrences that lost to a greater delivery of their key in the same run'),
    sa.Column('declared_total', sa.Integer(), autoincrement=False, nullable=True, comment="what the source declared for that day: the hrss files' trailers, the police manifests' counts, market's API total for a window within that day; NULL where the source declares nothing (tax, medins) or only for a window over several days (etl_run.declared_total keeps that)"),
    sa.PrimaryKeyConstraint('run_id', 'stream', 'business_day'),
    comment="The run ledger by business day: one row per run, stream and Beijing day the run's records belong to — hrss the file's date (`HRSS_BJ_<date>`), police the batch's date (`GA_<date>_<seq>`), market and tax the Beijing day of the record's update time (one that cannot be read: the last day of the read), medins the day of the rows' UPDATE_TIME. Rows the medins cursor cannot reach have no day of their own and count on the Beijing day the run started. Written in the transaction of the run's etl_run rows; a successful run's days add up to its etl_run row, and each day balances: extracted = inserted + updated + unchanged + quarantined + duplicates (a key delivered on two days is a duplicate on the day of the delivery that lost). A failed run has no rows here. `silobridge reconcile` and the report's reconciliation read it."
    )
    with op.batch_alter_table('etl_run_day', schema=None) as batch_op:
        batch_op.create_index('ix_etl_run_day_source_business_day', ['source', 'business_day'], unique=False)
    _backfill(op.get_bind())
    if op.get_bind().dialect.name == 'postgresql':
        _comment(_COMMENTS, _WATERMARK_COMMENT)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _comment([(t, c, _OLD_COMMENTS[(t, c)]) for t, c, _ in _COMMENTS], _OLD_WATERMARK_COMMENT)
    with op.batch_alter_table('etl_run_day', schema=None) as batch_op:
        batch_op.drop_index('ix_etl_run_day_source_business_day')
    op.drop_table('etl_run_day')


def _comment(comments, watermark_comment) -> None:
    for table, column, comment in comments:
        op.alter_column(table, column, existing_type=_TYPES.get((table, column), sa.Text()), comment=comment)
    op.create_table_comment('etl_watermark', watermark_comment)


def _backfill(conn: sa.Connection) -> None:
    run = sa.table('etl_run', *(sa.column(c) for c in ('run_id', 'stream', 'source', 'status', 'files', 'notes',
                                                       'declared_total', *_COUNTS)),
                   sa.column('started_at', schemas.sql.Instant()), sa.column('window_start', schemas.sql.Instant()),
                   sa.column('window_end', schemas.sql.Instant()))
    day = sa.table('etl_run_day', *(sa.column(c) for c in ('run_id', 'stream', 'source', 'declared_total', *_COUNTS)),
                   sa.column('business_day', sa.Date()))
    rows = [{'run_id': r.run_id, 'stream': r.stream, 'source': r.source, 'business_day': _legacy_day(r),
              'declared_total': r.declared_total, **{c: r._mapping[c] for c in _COUNTS}}
            for r in conn.execute(sa.select(run).where(run.c.status == 'success'))]
    if rows:
        conn.execute(day.insert(), rows)


def _legacy_day(r) -> date:
    days = set()
    for entry in json.loads(r.files) if r.files else []:
        m = _DATED.search(entry.get('file', '') + '.') if entry.get('outcome') == 'loaded' else None
        if m:
            days.add(date(int(m[1]), int(m[2]), int(m[3])))
    if r.window_start is not None and r.window_end is not None and r.window_start < r.window_end:
        days |= {r.window_start.astimezone(_BEIJING).date(),
                  (r.window_end - timedelta(microseconds=1)).astimezone(_BEIJING).date()}
    notes = json.loads(r.notes) if r.notes else {}
    cursor = notes.get(r.stream) if isinstance(notes.get(r.stream), dict) else {}
    if cursor.get('to') and r.extracted:
        days |= {date.fromisoformat(str(p[0])[:10]) for p in (cursor.get('from'), cursor['to']) if p}
    if len(days) == 1:
        return days.pop()
    return r.started_at.astimezone(_BEIJING).date()
