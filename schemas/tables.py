"""The tables of the unified store, declared once.

The SQLAlchemy tables (`schemas.sql`), the Arrow schemas (`schemas.arrow`) and
the data dictionary (`schemas.dictionary`) are all derived from `TABLES`.
Column names of the unified tables are a public contract (unified-store.md):
add columns, never rename or drop them without a migration.
"""

from dataclasses import dataclass, field

# Logical types; each backend maps them in schemas/sql.py and schemas/arrow.py.
TEXT, INTEGER, BOOLEAN, INSTANT, MONEY, BLOB = "text", "integer", "boolean", "instant", "money", "blob"
# A calendar date (no time, no zone): `date` on PostgreSQL, `YYYY-MM-DD` text on SQLite. Not in unified batches.
DATE = "date"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str
    key: bool = False
    nullable: bool = True
    code_set: str | None = None
    pii: str | None = None  # how personal data is protected in this column
    autoincrement: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _c(name, type_, doc, **kw) -> Column:
    if kw.get("key"):
        kw.setdefault("nullable", False)
    return Column(name, type_, doc, **kw)


# Columns that every unified table carries for precedence and lineage.
_LINEAGE = (
    _c("source_updated_at", INSTANT, "the source's own last-update time of the record", nullable=False),
    _c(
        "delivery_order",
        TEXT,
        "third precedence component: hrss `yyyyMMdd.nnn.rrrrrrrrr` (file date, correction, record), "
        "police `ssssss.iiiiiii` (batch, element), `0` elsewhere; fixed width, compared as text",
        nullable=False,
    ),
    _c("loaded_at", INSTANT, "when the store last changed this row", nullable=False),
    _c("run_id", TEXT, "the load run that last changed this row", nullable=False),
)

SERVICE_CASE = Table(
    "service_case",
    "办件: one row per case, the latest known state (natural key `case_no`).",
    (
        _c("case_no", TEXT, "办件编号 / 申办流水号 as issued by the source system", key=True),
        _c("source_system", TEXT, "market, medins, hrss, police or tax", nullable=False),
        _c("source_record_id", TEXT, "the row's id in the source system; NULL where the source has none"),
        _c("source_version", INTEGER, "the source's data version (DATAVER) where it has one, else 1", nullable=False),
        _c("impl_code", TEXT, "实施编码, 31 characters (a 33-character code is cut to 31)"),
        _c("item_name", TEXT, "事项名称"),
        _c("case_type", INTEGER, "办件类型", code_set="case_type"),
        _c("applicant_type", INTEGER, "申请人类型", code_set="applicant_type"),
        _c("applicant_cert_type", TEXT, "申请人证件类型", code_set="cert_type"),
        _c("applicant_key", TEXT, "keyed pseudonym of the normalized certificate number: lower-case hex HMAC-SHA256, "
           "or HMAC-SM3 under the sm crypto suite (SILOBRIDGE_CRYPTO=standard|sm; store_key records which)",
           pii="pseudonym"),
        _c("applicant_cert_masked", TEXT, "masked certificate number; a USCC stays in clear", pii="masked"),
        _c("applicant_name_masked", TEXT, "masked personal name; organisation names in clear", pii="masked"),
        _c("contact_phone_masked", TEXT, "masked phone number", pii="masked"),
        _c("channel", INTEGER, "办理形式 / 申报渠道", code_set="channel"),
        _c("apply_time", INSTANT, "申报时间"),
        _c("accept_time", INSTANT, "受理时间"),
        _c("finish_time", INSTANT, "办结时间"),
        _c("promise_days", INTEGER, "承诺办结时限 in working days"),
        _c("status", TEXT, "unified 办件状态", nullable=False, code_set="case_status"),
        _c("accept_org_code", TEXT, "受理部门 统一社会信用代码"),
        _c("region_code", TEXT, "6-digit GB/T 2260 code"),
        _c("fee_yuan", MONEY, "fee charged in yuan, exactly 2 decimals; NULL where the source has no fee field"),
        _c("bundle_id", TEXT, "一件事一次办 bundle instance"),
        _c("deleted", BOOLEAN, "set only when the source deletes the record", nullable=False),
        *_LINEAGE,
    ),
    # Access paths of downstream readers (docs/querying.md): one applicant, a period, open cases,
    # a bundle, what changed since a time.
    indexes=(("source_system", "source_updated_at"), ("applicant_key",), ("apply_time",), ("status",),
             ("bundle_id",), ("source_updated_at",)),
)

SERVICE_EVALUATION = Table(
    "service_evaluation",
    "好差评: one row per evaluation (natural key `source_system`, `eval_no`).",
    (
        _c("source_system", TEXT, "market, medins, hrss, police or tax", key=True),
        _c("eval_no", TEXT, "the source's evaluation id, or case_no#assess_number", key=True),
        _c("case_no", TEXT, "the evaluated case (may arrive before the case)"),
        _c("source_version", INTEGER, "the source's data version where it has one, else 1", nullable=False),
        _c("assess_number", INTEGER, "评价次数: 1 first evaluation, 2 follow-up", nullable=False),
        _c("score", INTEGER, "1 非常不满意 … 5 非常满意", nullable=False, code_set="score"),
        _c("score_raw", TEXT, "the value exactly as the source sent it", nullable=False),
        _c("channel", INTEGER, "评价渠道; NULL for a default evaluation", code_set="eval_channel"),
        _c("is_default", BOOLEAN, "默认评价 given by the system", nullable=False),
        _c("option_codes", TEXT, "comma-separated 评价选项 codes as sent"),
        _c("comment", TEXT, "文字评价 with ID and phone numbers masked", pii="masked"),
        _c("evaluator_key", TEXT, "keyed pseudonym of the evaluator's certificate number, as applicant_key: "
           "HMAC-SHA256 or HMAC-SM3 by the crypto suite", pii="pseudonym"),
        _c("assess_time", INSTANT, "评价时间"),
        _c("deleted", BOOLEAN, "set when the source deletes the evaluation", nullable=False),
        *_LINEAGE,
    ),
    indexes=(("case_no",), ("source_updated_at",)),
)

SERVICE_CASE_HISTORY = Table(
    "service_case_history",
    "办件 status history: one row for each status a case took in the store, written by the merge in the run's "
    "transaction: the first load of a case, then each later delivery that replaced the stored row (greater by "
    "precedence) with another status. Deliveries superseded within one run, or smaller than the stored row, are "
    "no change. A store upgraded to it starts with one row per case already stored (its status then). "
    "Key (case_no, source_updated_at, run_id): one case's changes in time order.",
    (
        _c("case_no", TEXT, "the case (service_case.case_no)", key=True),
        _c("source_updated_at", INSTANT, "the source's update time of the delivery that brought the status", key=True),
        _c("run_id", TEXT, "the load run that wrote the change", key=True),
        _c("source_system", TEXT, "market, medins, hrss, police or tax", nullable=False),
        _c("previous_status", TEXT, "the status before; NULL where the case was new to the store",
           code_set="case_status"),
        _c("status", TEXT, "the status from then on", nullable=False, code_set="case_status"),
        _c("loaded_at", INSTANT, "when the store recorded the change", nullable=False),
    ),
)

ETL_RUN = Table(
    "etl_run",
    "The run ledger: one row per run and stream; extracted = inserted + updated + unchanged + quarantined + duplicates.",
    (
        _c("run_id", TEXT, "identifier of the run", key=True),
        _c("stream", TEXT, "`cases` or `evaluations`", key=True),
        _c("source", TEXT, "source system", nullable=False),
        _c("window_start", INSTANT, "start of the interval covered (inclusive), if the run had one"),
        _c("window_end", INSTANT, "end of the interval covered (exclusive), if the run had one"),
        _c("files", TEXT, "JSON list of the files or batches covered, with their declared and read counts"),
        _c("started_at", INSTANT, "when the run started", nullable=False),
        _c("finished_at", INSTANT, "when the run committed or failed"),
        _c("status", TEXT, "`success` or `failed`", nullable=False),
        _c("failure_reason", TEXT, "one sentence naming what failed and how to fix it"),
        _c("extracted", INTEGER, "every record occurrence read, valid or not", nullable=False),
        _c("inserted", INTEGER, "survivors with a new key", nullable=False),
        _c("updated", INTEGER, "survivors that replaced a smaller stored record", nullable=False),
        _c("unchanged", INTEGER, "survivors equal to or smaller than the stored record", nullable=False),
        _c("stale", INTEGER, "of `unchanged`, the survivors strictly smaller than the stored record", nullable=False),
        _c("quarantined", INTEGER, "record occurrences rejected into etl_reject", nullable=False),
        _c("duplicates", INTEGER, "repeats of one key within the run beyond the greatest one", nullable=False),
        _c("declared_total", INTEGER, "what the source said it delivered (trailers, totals), where it says"),
        _c("notes", TEXT, "JSON object of findings to report (e.g. keys a correction lacked)"),
    ),
    indexes=(("source", "started_at"),),
)

ETL_WATERMARK = Table(
    "etl_watermark",
    "Committed positions per source and stream: hrss one row per processed file; police one row per batch "
    "number (stream `batch`); market and tax the last committed window end; medins the last (UPDATE_TIME, id) read.",
    (
        _c("source", TEXT, "source system", key=True),
        _c("stream", TEXT, "stream (`batch` for police, whose batches hold both streams)", key=True),
        _c("position", TEXT, "what was processed: hrss the file name, police the 6-digit batch number, "
                             "`window_end` (market, tax), `cursor` (medins)", key=True),
        _c("value", TEXT, "the committed value: hrss the file's date, police the batch file name, market and tax "
                          "the window end (ISO 8601), medins the JSON pair [UPDATE_TIME, id]"),
        _c("fingerprint", TEXT, "what identifies the delivery processed: hrss the file's SHA-256; police a loaded "
                                "batch's SHA-256, a batch quarantined whole `<SHA-256> manifest:<SHA-256 of its "
                                "manifest>` (`unread:<bytes>:<mtime ns>` in place of the first for a batch over the "
                                "size cap); NULL for market, tax and medins"),
        _c("outcome", TEXT, "`loaded` or `quarantined` (a file or batch quarantined whole); NULL for windows and "
                            "cursors"),
        _c("run_id", TEXT, "the run that committed it", nullable=False),
        _c("updated_at", INSTANT, "when it was committed", nullable=False),
    ),
)

ETL_RUN_DAY = Table(
    "etl_run_day",
    "The run ledger by business day: one row per run, stream and Beijing day the run's records belong to — "
    "hrss the file's date (`HRSS_BJ_<date>`), police the batch's date (`GA_<date>_<seq>`), market and tax the "
    "Beijing day of the record's update time (one that cannot be read: the last day of the read), medins the day of "
    "the rows' UPDATE_TIME. "
    "Rows the medins cursor cannot reach have no day of their own and count on the Beijing day the run started. "
    "Written in the transaction of the run's etl_run rows; a successful run's days add up to its etl_run row, "
    "and each day balances: extracted = inserted + updated + unchanged + quarantined + duplicates "
    "(a key delivered on two days is a duplicate on the day of the delivery that lost). "
    "A failed run has no rows here. `silobridge reconcile` and the report's reconciliation read it.",
    (
        _c("run_id", TEXT, "the run (etl_run.run_id)", key=True),
        _c("stream", TEXT, "`cases` or `evaluations`", key=True),
        _c("business_day", DATE, "the Beijing day the records belong to", key=True),
        _c("source", TEXT, "source system", nullable=False),
        _c("extracted", INTEGER, "record occurrences of that day read, valid or not", nullable=False),
        _c("inserted", INTEGER, "of them, survivors with a new key", nullable=False),
        _c("updated", INTEGER, "survivors that replaced a smaller stored record", nullable=False),
        _c("unchanged", INTEGER, "survivors equal to or smaller than the stored record", nullable=False),
        _c("stale", INTEGER, "of `unchanged`, the survivors strictly smaller than the stored record", nullable=False),
        _c("quarantined", INTEGER, "record occurrences rejected into etl_reject", nullable=False),
        _c("duplicates", INTEGER, "occurrences that lost to a greater delivery of their key in the same run",
           nullable=False),
        _c("declared_total", INTEGER, "what the source declared for that day: the hrss files' trailers, the police "
                                      "manifests' counts, market's API total for a window within that day; NULL "
                                      "where the source declares nothing (tax, medins) or only for a window over "
                                      "several days (etl_run.declared_total keeps that)"),
    ),
    indexes=(("source", "business_day"),),
)

ETL_REJECT = Table(
    "etl_reject",
    "Quarantined records and files, with the raw record encrypted so it can be replayed after a fix.",
    (
        _c("reject_id", INTEGER, "surrogate id", key=True, autoincrement=True),
        _c("run_id", TEXT, "the run that quarantined it", nullable=False),
        _c("source", TEXT, "source system", nullable=False),
        _c("stream", TEXT, "stream", nullable=False),
        _c("kind", TEXT, "`record` or `file`", nullable=False),
        _c("location", TEXT, "file or batch name and record number"),
        _c("record_key", TEXT, "the record's natural key where it could be read"),
        _c("reason", TEXT, "reason code", nullable=False),
        _c("detail", TEXT, "one sentence naming the source, the record and the reason (no clear personal data)", nullable=False),
        _c("raw_encrypted", BLOB, "the raw record, encrypted: Fernet, or SM4-GCM under the sm crypto suite "
           "(store_key records which)", pii="encrypted"),
        _c("created_at", INSTANT, "when it was quarantined", nullable=False),
        _c("replayed_at", INSTANT, "when it was replayed"),
        _c("replay_run_id", TEXT, "the run that replayed it"),
        _c("replay_outcome", TEXT, "what became of it on replay"),
    ),
    indexes=(("source", "reason"), ("run_id",)),
)

DQ_RESULT = Table(
    "dq_result",
    "Data-quality expectation results: one row per run, stream and expectation evaluated on a unified batch.",
    (
        _c("result_id", INTEGER, "surrogate id", key=True, autoincrement=True),
        _c("run_id", TEXT, "the run whose batch was checked", nullable=False),
        _c("source", TEXT, "source system", nullable=False),
        _c("stream", TEXT, "stream", nullable=False),
        _c("expectation", TEXT, "expectation type, e.g. expect_column_values_to_be_in_set", nullable=False),
        _c("column_name", TEXT, "the column checked (first of several), if any"),
        _c("kwargs", TEXT, "JSON of the expectation's arguments"),
        _c("severity", TEXT, "`error` (fails the data) or `warning` (reported, e.g. a case that may still arrive)", nullable=False),
        _c("observed_value", TEXT, "what was observed, as text"),
        _c("element_count", INTEGER, "rows checked"),
        _c("unexpected_count", INTEGER, "rows that did not meet the expectation"),
        _c("success", BOOLEAN, "whether the expectation was met", nullable=False),
        _c("evaluated_at", INSTANT, "when it was evaluated", nullable=False),
    ),
    indexes=(("run_id",), ("source", "evaluated_at")),
)

STORE_KEY = Table(
    "store_key",
    "The keys this store was set up with, as fingerprints, never the keys: a run, replay or other writing "
    "command with another key or another crypto suite is refused.",
    (
        _c("purpose", TEXT, "`pseudonym` (applicant_key, evaluator_key) or `quarantine` (etl_reject.raw_encrypted)",
           key=True),
        _c("suite", TEXT, "crypto suite (SILOBRIDGE_CRYPTO): `standard` or `sm` (国密)", nullable=False),
        _c("algorithm", TEXT, "HMAC-SHA256 or HMAC-SM3 (pseudonym); Fernet or SM4-GCM (quarantine)", nullable=False),
        _c("fingerprint", TEXT, "lower-case hex HMAC of a fixed label under the key, by the suite's hash",
           nullable=False),
        _c("run_id", TEXT, "the run that recorded it", nullable=False),
        _c("created_at", INSTANT, "when it was recorded", nullable=False),
    ),
)

CODE_VALUE = Table(
    "code_value",
    "The names of every unified code (schemas/codes.py), for joins: `code_set` is the code set a column names in "
    "this dictionary (`channel`, `case_status`…) or `source_system`; integer codes are stored as text "
    "(join with CAST(column AS TEXT)). Filled by the migrations.",
    (
        _c("code_set", TEXT, "the code set, e.g. `channel`, `eval_channel`, `case_status`, `source_system`", key=True),
        _c("code", TEXT, "the unified code as text, e.g. `2`, `completed`, `hrss`", key=True),
        _c("name_zh", TEXT, "its name in Chinese", nullable=False),
        _c("name_en", TEXT, "its name in English", nullable=False),
    ),
)

CALENDAR_DAY = Table(
    "calendar_day",
    "Working-day calendar for 按时办结 (on-time completion): one row per date from 2000-01-01 to 2049-12-31, "
    "filled by the migration with Monday–Friday as working days. Public holidays and 调休 working weekends "
    "are not flagged; an operator may set `is_workday` for them and then renumber `workday_number` "
    "(docs/querying.md, 'Holidays'), and every view that counts working days follows.",
    (
        _c("day", DATE, "the date (Beijing)", key=True),
        _c("is_workday", BOOLEAN, "whether the date is a working day", nullable=False),
        _c("workday_number", INTEGER, "working days from the calendar's first day up to and including this one: "
                                      "the working days after day a up to and including day b are "
                                      "workday_number(b) − workday_number(a)", nullable=False),
    ),
)

UNIFIED_TABLES = (SERVICE_CASE, SERVICE_EVALUATION)
TABLES = (SERVICE_CASE, SERVICE_EVALUATION, SERVICE_CASE_HISTORY, ETL_RUN, ETL_RUN_DAY, ETL_WATERMARK, ETL_REJECT,
          DQ_RESULT, STORE_KEY, CODE_VALUE, CALENDAR_DAY)
STREAM_TABLES = {"cases": SERVICE_CASE, "evaluations": SERVICE_EVALUATION}

# The columns that decide which of two deliveries of one key wins (README.md, Precedence).
PRECEDENCE = ("source_version", "source_updated_at", "delivery_order")
