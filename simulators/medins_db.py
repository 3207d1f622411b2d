"""Stand-in for the 医保 (medins) exchange database described in contracts/medins.md.

Creates EX_CASE and EX_EVALUATE with the contract's column types in any
SQLAlchemy URL (a SQLite file by default, MariaDB in the tests; ORGBUSNO and
EVAID with a binary collation on MySQL/MariaDB) and fills them with a month of
a district hall's 医保 cases and evaluations. Every case is reported again,
as a new row with the next DATAVER and a new ORGBUSNO, each time its state
changes; nothing is ever updated in place.

Everything is derived from the seed and the calendar, never from the clock:
the same arguments write the same rows. Each application day has its own
random stream, so a month also holds the later rows of cases applied in the
weeks before it, exactly as the previous month's run left them off.

Behaviours (all on unless left out of ``behaviours``):

================  ===========================================================
bulk_seconds      the platform writes in bulk, every 10 minutes to the second:
                  many rows share one UPDATE_TIME (off: each row its own time)
re_reports        a row per state change, DATAVER 1, 2, … (off: only the last
                  state, DATAVER 1)
out_of_order      two versions of a case in one bulk write, the higher
                  version's ORGBUSNO sorting first, so it is read first
deletions         a case withdrawn by the platform: a new row, DEL_FLAG 1,
                  the next DATAVER
null_accept_time  an accepted or completed case whose ACCEPTTIME is NULL
zero_dates        `0000-00-00 00:00:00` where a time is not known yet
                  (MySQL/MariaDB and SQLite only; PostgreSQL cannot store it)
promise_units     承诺件 limits in 自然日 (`2`) and 小时 (`3`) besides 工作日
unknown_codes     SUBMIT, APPROVALTYPE, CASESTATE, APPLYERTYPE, SATISFACTION
                  or PF values that the contract does not list
================  ===========================================================

Late commits depend on the reader's timing, not on the month: after a reader
has run, ``commit_late`` writes rows stamped up to two minutes before the
database's current time.
"""

from __future__ import annotations

import argparse
import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from simulators.population import (
    REGION,
    Person,
    Unit,
    build_population,
    org_code_check_char,
    uscc_check_char,
)

BEHAVIOURS = ("bulk_seconds", "re_reports", "out_of_order", "deletions", "null_accept_time", "zero_dates",
              "promise_units", "unknown_codes")
ZERO_DATE = "0000-00-00 00:00:00"
DEFAULT_URL = "sqlite:///var/sim/medins.db"
LOOKBACK_DAYS = 80  # a case applied this long before a month can still change inside it

# --- tables -----------------------------------------------------------------


def _id_type(length: int) -> sa.types.TypeEngine:
    # Ids compare as bytes in the source: ascii_bin, not the table's linguistic default.
    return sa.VARCHAR(length).with_variant(mysql.VARCHAR(length, charset="ascii", collation="ascii_bin"),
                                           "mysql", "mariadb")


metadata = sa.MetaData()
_UTF8 = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_general_ci"}

EX_CASE = sa.Table(
    "EX_CASE", metadata,
    sa.Column("ORGBUSNO", _id_type(40), primary_key=True),
    sa.Column("PROJID", sa.VARCHAR(50), nullable=False),
    sa.Column("DATAVER", sa.INTEGER, nullable=False),
    sa.Column("IMPLEMENTCODE", sa.VARCHAR(33)),
    sa.Column("ITEMNAME", sa.VARCHAR(200)),
    sa.Column("APPLYERTYPE", sa.CHAR(2)),
    sa.Column("APPLYERNAME", sa.VARCHAR(100)),
    sa.Column("APPLYERPAGETYPE", sa.CHAR(3)),
    sa.Column("APPLYERPAGECODE", sa.VARCHAR(40)),
    sa.Column("MOBILE", sa.VARCHAR(20)),
    sa.Column("SUBMIT", sa.CHAR(1)),
    sa.Column("APPROVALTYPE", sa.CHAR(1)),
    sa.Column("APPLYTIME", sa.DateTime, nullable=True),
    sa.Column("ACCEPTTIME", sa.DateTime, nullable=True),
    sa.Column("FINISHTIME", sa.DateTime, nullable=True),
    sa.Column("PROMISETIMELIMIT", sa.INTEGER, nullable=True),
    sa.Column("PROMISETIMEUNIT", sa.CHAR(1)),
    sa.Column("CASESTATE", sa.VARCHAR(4)),
    sa.Column("ACCEPTDEPTID", sa.CHAR(18)),
    sa.Column("AREACODE", sa.CHAR(6)),
    sa.Column("FEE", sa.DECIMAL(16, 2), nullable=True),
    sa.Column("BIGUID", sa.VARCHAR(40), nullable=True),
    sa.Column("DEL_FLAG", sa.CHAR(1), nullable=False),
    sa.Column("UPDATE_TIME", sa.DateTime, nullable=False),
    sa.Index("IX_EX_CASE_CURSOR", "UPDATE_TIME", "ORGBUSNO"),
    **_UTF8,
)

EX_EVALUATE = sa.Table(
    "EX_EVALUATE", metadata,
    sa.Column("EVAID", _id_type(40), primary_key=True),
    sa.Column("PROJID", sa.VARCHAR(50), nullable=False),
    sa.Column("ASSESSNUMBER", sa.INTEGER),
    sa.Column("SATISFACTION", sa.CHAR(1)),
    sa.Column("PF", sa.CHAR(1)),
    sa.Column("ISDEFAULT", sa.CHAR(1)),
    sa.Column("EVALDETAIL", sa.VARCHAR(200)),
    sa.Column("WRITINGEVALUATION", sa.TEXT),
    sa.Column("CERTKEY", sa.VARCHAR(64), nullable=True),
    sa.Column("ASSESSTIME", sa.DateTime),
    sa.Column("UPDATE_TIME", sa.DateTime, nullable=False),
    sa.Index("IX_EX_EVALUATE_CURSOR", "UPDATE_TIME", "EVAID"),
    **_UTF8,
)

Row = dict[str, str | None]  # column → value as the contract's text, None for NULL


def _engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    if engine.dialect.name in ("mysql", "mariadb"):
        # Zero dates are part of the contract; servers with NO_ZERO_DATE in their default mode refuse them.
        sa.event.listen(engine, "connect", lambda dbapi_conn, _: dbapi_conn.cursor().execute(
            "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'"))
    return engine


def create_schema(url: str) -> None:
    engine = _engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def _write(url: str, table: sa.Table, rows: list[Row]) -> None:
    engine = _engine(url)
    names = [c.name for c in table.columns]
    quote = engine.dialect.identifier_preparer.quote
    # Plain text parameters: every backend converts the contract's text itself, zero dates included.
    insert = sa.text(f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) "
                     f"VALUES ({', '.join(f':{n}' for n in names)})")
    try:
        with engine.begin() as conn:
            for i in range(0, len(rows), 5000):
                conn.execute(insert, [{n: r.get(n) for n in names} for r in rows[i:i + 5000]])
    finally:
        engine.dispose()


def write_cases(url: str, rows: list[Row]) -> None:
    _write(url, EX_CASE, rows)


def write_evaluations(url: str, rows: list[Row]) -> None:
    _write(url, EX_EVALUATE, rows)


def commit_late(url: str, table: str, rows: list[Row], *, now: datetime, seconds_late: int = 90) -> list[Row]:
    """Writes rows as the platform commits them late: stamped `seconds_late` before `now`.

    `now` is the database's current Beijing wall-clock time; the contract allows
    up to 120 seconds. Returns the rows as written.
    """
    stamp = f"{now - timedelta(seconds=seconds_late):%Y-%m-%d %H:%M:%S}"
    late = [{**r, "UPDATE_TIME": stamp} for r in rows]
    _write(url, metadata.tables[table], late)
    return late


# --- the department -----------------------------------------------------------

_ID_CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase


def _subject_uscc() -> str:
    body = "31854620"  # 淮北市相山区医疗保障局, a fixed 机关 code so that item codes never change
    first17 = "11" + REGION + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


SUBJECT_USCC = _subject_uscc()


@dataclass(frozen=True)
class _Item:
    name: str
    approval: str  # "1" 即办件, "2" 承诺件
    promise_days: int  # working days
    fee: str | None
    applicant: str  # person or unit
    code: str  # 31-character 实施编码, or 33 with a 办理项 suffix


def _items() -> tuple[_Item, ...]:
    spec = (
        ("职工基本医疗保险参保登记", "1", 0, None, "unit"),
        ("城乡居民基本医疗保险参保登记", "1", 0, None, "person"),
        ("基本医疗保险参保信息变更登记", "1", 0, None, "person"),
        ("基本医疗保险关系转移接续", "2", 15, None, "person"),
        ("异地就医备案", "1", 0, None, "person"),
        ("门诊慢特病病种待遇认定", "2", 20, None, "person"),
        ("零星报销（医疗费用手工报销）", "2", 20, None, "person"),
        ("生育津贴支付", "2", 10, None, "person"),
        ("产前检查费支付", "2", 10, None, "person"),
        ("医疗救助对象待遇核准支付", "2", 10, None, "person"),
        ("参保单位参保信息查询", "1", 0, None, "unit"),
        ("个人参保证明查询打印", "1", 0, "0.00", "person"),
        ("医疗保障定点医药机构申请受理", "2", 30, None, "unit"),
        ("医保电子凭证补办社保卡工本费", "1", 0, "20.00", "person"),
        ("长期护理保险失能等级评估", "2", 30, "150.00", "person"),
    )
    items = []
    for n, (name, approval, days, fee, applicant) in enumerate(spec):
        code = f"{SUBJECT_USCC}4{'07' if approval == '2' else '20'}{n + 310:05d}{1 + n % 4:03d}00"
        items.append(_Item(name, approval, days, fee, applicant, code + ("01" if n % 3 == 0 else "")))
    return tuple(items)


ITEMS = _items()
_SUBMITS = (("0", "1", "3", "4", "2", "8"), (55, 24, 15, 4, 1, 1))
_CLOSED_HALL_SUBMITS = (("1", "3", "8"), (55, 44, 1))
_PRAISE = ("办理很快，态度很好", "网上办很方便，不用跑腿", "非常满意", "工作人员耐心解答", "")
_COMPLAINTS = ("材料要了好几次", "排队太久", "电话打不通，请联系{phone}", "报销款一直没到账")


def _next_workday(d: date) -> date:
    d += timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _office_moment(rng: random.Random, d: date) -> datetime:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    seconds = 30600 + rng.randrange(12600) if rng.random() < 0.55 else 52200 + rng.randrange(10800)
    return datetime(d.year, d.month, d.day) + timedelta(seconds=seconds)


def _later_office_moment(rng: random.Random, t: datetime, workdays: int) -> datetime:
    d = t.date()
    for _ in range(workdays):
        d = _next_workday(d)
    moment = _office_moment(rng, d)
    return moment if moment > t else t + timedelta(minutes=rng.randint(5, 90), seconds=rng.randrange(60))


def _lifecycle(rng: random.Random, item: _Item, submit: str, applied: datetime) -> list[tuple[datetime, str]]:
    """(time, CASESTATE) of every state the case goes through."""
    events = []
    t = applied
    if submit in ("1", "2", "3"):  # online, by letter or on the phone: accepted later at the office
        events.append((t, "SB"))
        t = _later_office_moment(rng, t, rng.choice((0, 0, 1, 1, 2)))
        r = rng.random()
        if r < 0.04:
            return events + [(t, "BYSL")]
        if r < 0.05:
            return events + [(t, "ZF")]
    events.append((t, "SL"))
    if item.approval == "1":
        return events + [(t + timedelta(minutes=rng.randint(2, 40), seconds=rng.randrange(60)), "BJ")]
    t = _later_office_moment(rng, t, rng.choice((0, 1)))
    events.append((t, "BL"))
    if rng.random() < 0.08:
        t = _later_office_moment(rng, t, rng.randint(1, 3))
        events.append((t, "BZ"))
        if rng.random() < 0.2:
            return events + [(_later_office_moment(rng, t, rng.randint(5, 10)), "TH")]
        t = _later_office_moment(rng, t, rng.randint(1, 4))
        events.append((t, "BL"))
    if rng.random() < 0.02:
        t = _later_office_moment(rng, t, 1)
        events.append((t, "GQ"))
        t = _later_office_moment(rng, t, rng.randint(2, 6))
        events.append((t, "BL"))
    return events + [(_later_office_moment(rng, t, rng.randint(1, item.promise_days)), "BJ")]


def _fmt(t: datetime | None) -> str | None:
    return None if t is None else f"{t:%Y-%m-%d %H:%M:%S}"


def _row_id(rng: random.Random, prefix: str, t: datetime) -> str:
    # Mixed-case on purpose: byte order and case-insensitive order differ.
    return f"{prefix}{t:%Y%m%d}" + "".join(rng.choice(_ID_CHARS) for _ in range(10))


def _stamp(rng: random.Random, t: datetime, bulk: bool) -> datetime:
    if bulk:  # the platform's sync job runs every 10 minutes and stamps its whole batch with one second
        return datetime(t.year, t.month, t.day, t.hour, t.minute - t.minute % 10) + timedelta(minutes=10)
    return t + timedelta(seconds=1 + rng.randrange(30))


def _applicant(rng: random.Random, item: _Item, pop) -> tuple[str, Person | None, Unit | None]:
    if item.applicant == "unit":
        unit = pop.pick_unit(rng)
        return ("30" if unit.kind == "other" else "20"), None, unit
    return "10", pop.pick_person(rng), None


@dataclass
class MonthRows:
    cases: list[Row] = field(default_factory=list)
    evaluations: list[Row] = field(default_factory=list)
    # behaviour → the ids it shaped: PROJID for a whole case, ORGBUSNO or EVAID for one row
    injected: dict[str, list[str]] = field(default_factory=dict)

    def mark(self, behaviour: str, row_id: str) -> None:
        self.injected.setdefault(behaviour, []).append(row_id)


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.strptime(month, "%Y-%m")
    return start, (start + timedelta(days=32)).replace(day=1)


def _daily_count(rng: random.Random, d: date, cases_per_month: int) -> int:
    base = cases_per_month / 22 * (1.0 if d.weekday() < 5 else 0.1)
    return int(base * rng.uniform(0.85, 1.15) + rng.random())


def month_rows(month: str = "2026-10", seed: int = 7, cases_per_month: int = 1500,
               behaviours: tuple[str, ...] = BEHAVIOURS) -> MonthRows:
    """The rows whose UPDATE_TIME falls in `month`, without writing them."""
    unknown = set(behaviours) - set(BEHAVIOURS)
    if unknown:
        raise ValueError(f"unknown behaviours {sorted(unknown)}; choose from {', '.join(BEHAVIOURS)}")
    on = set(behaviours)
    start, end = _month_bounds(month)
    pop = build_population(seed)
    out = MonthRows()
    day = (start - timedelta(days=LOOKBACK_DAYS)).date()
    while day < end.date():
        rng = random.Random(f"medins:{seed}:{day.isoformat()}")
        for seq in range(1, _daily_count(rng, day, cases_per_month) + 1):
            case_rows, evals = _case(random.Random(rng.getrandbits(64)), day, seq, pop, on, out)
            out.cases += [r for r in case_rows if start <= datetime.fromisoformat(r["UPDATE_TIME"]) < end]
            out.evaluations += [r for r in evals if start <= datetime.fromisoformat(r["UPDATE_TIME"]) < end]
        day += timedelta(days=1)
    kept = {r["ORGBUSNO"] for r in out.cases} | {r["PROJID"] for r in out.cases} | {r["EVAID"] for r in out.evaluations}
    out.injected = {b: kept_ids for b, ids in out.injected.items() if (kept_ids := [i for i in ids if i in kept])}
    return out


def _case(rng: random.Random, day: date, seq: int, pop, on: set[str], out: MonthRows) -> tuple[list[Row], list[Row]]:
    item = rng.choice(ITEMS)
    submit = rng.choices(*(_SUBMITS if day.weekday() < 5 else _CLOSED_HALL_SUBMITS))[0]
    if submit in ("0", "4"):
        applied = _office_moment(rng, day)
    else:
        applied = datetime(day.year, day.month, day.day) + timedelta(seconds=rng.randrange(7 * 3600, 23 * 3600))
    kind, person, unit = _applicant(rng, item, pop)
    projid = f"YB{REGION}{day:%Y%m%d}{seq:05d}"
    events = _lifecycle(rng, item, submit, applied)
    promise_unit, promise = "1", (item.promise_days if item.approval == "2" else None)
    if "promise_units" in on and promise and rng.random() < 0.3:
        promise_unit, promise = rng.choice((("2", (7 * promise + 4) // 5), ("3", 8 * promise)))
        out.mark("promise_units", projid)
    base: Row = {
        "PROJID": projid, "IMPLEMENTCODE": item.code, "ITEMNAME": item.name, "APPLYERTYPE": kind,
        "APPLYERNAME": person.name if person else unit.name,
        "APPLYERPAGETYPE": person.cert_type if person else "001",
        "APPLYERPAGECODE": person.cert_no if person else unit.uscc,
        "MOBILE": person.mobile if person else unit.phone, "SUBMIT": submit,
        "APPROVALTYPE": item.approval if rng.random() < 0.97 else rng.choice("34"),
        "APPLYTIME": _fmt(applied), "PROMISETIMELIMIT": None if promise is None else str(promise),
        "PROMISETIMEUNIT": promise_unit, "ACCEPTDEPTID": SUBJECT_USCC, "AREACODE": REGION,
        "FEE": item.fee, "BIGUID": f"YJS{day:%Y%m%d}{rng.randrange(10**6):06d}" if rng.random() < 0.05 else None,
        "DEL_FLAG": "0",
    }
    if "unknown_codes" in on and rng.random() < 0.005:
        column, value = rng.choice((("SUBMIT", "7"), ("APPROVALTYPE", "5"), ("APPLYERTYPE", "40")))
        base[column] = value
        out.mark("unknown_codes", projid)
    accepted = next((t for t, s in events if s == "SL"), None)
    hide_accept = "null_accept_time" in on and accepted is not None and rng.random() < 0.01
    if hide_accept:
        out.mark("null_accept_time", projid)
    bulk = "bulk_seconds" in on
    rows: list[Row] = []
    for t, state in events if "re_reports" in on else events[-1:]:
        finished = t if state in ("BJ", "BYSL", "TH", "ZF") else None
        accept = None if hide_accept or state in ("SB", "BYSL", "ZF") else accepted
        rows.append({**base, "ORGBUSNO": _row_id(rng, "YB", t), "DATAVER": str(len(rows) + 1), "CASESTATE": state,
                     "ACCEPTTIME": _fmt(accept), "FINISHTIME": _fmt(finished), "UPDATE_TIME": _fmt(_stamp(rng, t, bulk))})
    if "out_of_order" in on and len(rows) >= 2 and rng.random() < 0.05:
        # The older version was held back and went out in the newer one's bulk write, sorting after it.
        older, newer = rows[-2], rows[-1]
        older["UPDATE_TIME"] = newer["UPDATE_TIME"]
        newer["ORGBUSNO"], older["ORGBUSNO"] = sorted((older["ORGBUSNO"], newer["ORGBUSNO"]), key=str.encode)
        out.mark("out_of_order", newer["ORGBUSNO"])
    if "deletions" in on and rng.random() < 0.01:
        last = rows[-1]
        when = datetime.fromisoformat(last["UPDATE_TIME"]) + timedelta(days=rng.randint(1, 5), minutes=rng.randint(1, 600))
        rows.append({**last, "ORGBUSNO": _row_id(rng, "YB", when), "DATAVER": str(len(rows) + 1), "DEL_FLAG": "1",
                     "UPDATE_TIME": _fmt(_stamp(rng, when, bulk))})
        out.mark("deletions", rows[-1]["ORGBUSNO"])
    for row in rows:
        not_yet = [c for c in ("ACCEPTTIME", "FINISHTIME") if row[c] is None and not hide_accept]
        if "zero_dates" in on and not_yet and rng.random() < 0.05:
            row.update(dict.fromkeys(not_yet, ZERO_DATE))  # how the platform writes "not yet"
            out.mark("zero_dates", row["ORGBUSNO"])
    if "unknown_codes" in on and rng.random() < 0.002:
        rows[-1]["CASESTATE"] = "YJ"
        out.mark("unknown_codes", rows[-1]["ORGBUSNO"])
    return rows, _evaluations(rng, rows, person, unit, on, out)


def _evaluations(rng: random.Random, rows: list[Row], person: Person | None, unit: Unit | None,
                 on: set[str], out: MonthRows) -> list[Row]:
    last = rows[-1]
    if last["CASESTATE"] != "BJ" or last["DEL_FLAG"] == "1" or rng.random() > 0.65:
        return []
    finished = datetime.fromisoformat(last["FINISHTIME"])
    default = rng.random() < 0.12
    if default:  # no opinion in time: the system gives 默认好评 overnight
        when = datetime.combine(finished.date() + timedelta(days=5), datetime.min.time()) + timedelta(
            seconds=3600 + rng.randrange(7200))
        score, pf, text, detail = "5", "5", "", "501"
    else:
        when = finished + timedelta(minutes=rng.uniform(0.5, 2880))
        score = rng.choices("12345", weights=(2, 2, 4, 12, 80))[0]
        pf = rng.choices("1234567", weights=(15, 40, 20, 20, 2, 2, 1))[0]
        pool = _PRAISE if score in "45" else _COMPLAINTS
        phone = person.mobile if person else unit.phone
        text = rng.choice(pool).format(phone=phone)
        detail = ",".join(sorted(rng.sample(("501", "502", "503", "504") if score in "45" else
                                            ("101", "102", "103", "104"), rng.randint(1, 2))))
    cert = person.cert_no if person else unit.uscc
    evals = [_evaluation(rng, last["PROJID"], 1, score, pf, default, detail, text, cert, when, on)]
    if score in "12" and rng.random() < 0.3:  # the department calls back and the applicant rates again
        again = when + timedelta(days=rng.randint(1, 4), minutes=rng.randint(1, 600))
        evals.append(_evaluation(rng, last["PROJID"], 2, rng.choice("345"), "6", False, "502", "回访后问题已解决",
                                 cert, again, on))
    if "unknown_codes" in on and rng.random() < 0.01:
        column, value = rng.choice((("SATISFACTION", "6"), ("SATISFACTION", "0"), ("PF", "9")))
        evals[0][column] = value
        out.mark("unknown_codes", evals[0]["EVAID"])
    return evals


def _evaluation(rng: random.Random, projid: str, number: int, score: str, pf: str, default: bool, detail: str,
                text: str, cert: str, when: datetime, on: set[str]) -> Row:
    when = when.replace(microsecond=0)
    return {
        "EVAID": _row_id(rng, "PJ", when), "PROJID": projid, "ASSESSNUMBER": str(number), "SATISFACTION": score,
        "PF": pf, "ISDEFAULT": "1" if default else "0", "EVALDETAIL": detail, "WRITINGEVALUATION": text,
        "CERTKEY": None if rng.random() < 0.3 else cert, "ASSESSTIME": _fmt(when),
        "UPDATE_TIME": _fmt(_stamp(rng, when, "bulk_seconds" in on)),
    }


@dataclass(frozen=True)
class MonthManifest:
    month: str
    cases: int
    evaluations: int
    injected: dict[str, list[str]]


def generate_month(url: str = DEFAULT_URL, month: str = "2026-10", seed: int = 7, cases_per_month: int = 1500,
                   behaviours: tuple[str, ...] = BEHAVIOURS) -> MonthManifest:
    """Creates the tables if needed and writes the month's rows; says what it wrote."""
    if "zero_dates" in behaviours and sa.make_url(url).get_backend_name() == "postgresql":
        raise ValueError("PostgreSQL cannot store zero dates: leave 'zero_dates' out of behaviours")
    rows = month_rows(month, seed, cases_per_month, behaviours)
    create_schema(url)
    write_cases(url, rows.cases)
    write_evaluations(url, rows.evaluations)
    return MonthManifest(month, len(rows.cases), len(rows.evaluations), rows.injected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.medins_db", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"SQLAlchemy URL of the exchange database ({DEFAULT_URL})")
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cases", type=int, default=1500, help="cases applied per month")
    args = parser.parse_args(argv)
    url = sa.make_url(args.url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    manifest = generate_month(args.url, args.month, args.seed, args.cases)
    print(f"{manifest.month}: {manifest.cases} EX_CASE rows, {manifest.evaluations} EX_EVALUATE rows "
          f"written to {sa.make_url(args.url).render_as_string(hide_password=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
