"""Stand-in for the 人社 (hrss) daily file drop described in contracts/hrss.md.

A district service hall's month: cases (办件) go through their lifecycle and
appear in the ``HRSS_BJ_<yyyyMMdd>.csv`` of every day they were updated;
evaluations (好差评) appear in the ``HRSS_PJ_<yyyyMMdd>.csv`` of the day they
were made. Every data file is followed by its empty ``.ok`` marker.

Everything is derived from the seed and the calendar, never from the clock, so
two runs with the same arguments write byte-identical files. Cases are
generated per application day with their own random stream: any window of
days (one day, a month, consecutive months) shows the same cases, and a month
includes the tail of cases applied in the weeks before it.

Faults (all off unless named in ``faults``):

==================  ==========================================================
missing_ok          a data file written without its ``.ok`` marker
bad_trailer         trailer count off by one
no_trailer          no ``合计,<n>`` line at all
bad_header          header not exactly the contract's (renamed, swapped,
                    full-width parentheses, extra column)
wrong_field_count   a record with a stray separator (one field too many)
undecodable         a field containing bytes that are not GB18030
                    (``\\x81\\x20`` or ``\\xff``)
invalid_id          a 个人 ID number with a wrong check character
invalid_uscc        a 单位 USCC with a wrong check character
unknown_code        办理状态 ``已挂起``, 业务来源 ``9``, 申请人类型 ``3``,
                    评价分值 ``6``/``0`` or 评价渠道 ``微信``
bad_date            a date such as ``05/10/2026`` or ``2026年10月5日``
redelivery          a ``_R1`` correction of one day (BJ and PJ): the full day
                    with some rows corrected (same or later 更新时间) and one
                    key of the original left out
duplicate_drop      planned in ``DropManifest.late``: after the pipeline has
                    archived the file, ``write_late_drops``/``redrop`` drops
                    it again byte for byte
changed_file        planned in ``DropManifest.late``: ``write_late_drops``/
                    ``write_changed_file`` writes a changed file under the
                    already-used name
==================  ==========================================================

File faults and the redelivery day take whole files; row faults then go to
other files, ``fault_rate`` of their records each (at least one). A fault is
left out when no file or record is left that can carry it; the manifest lists
exactly what was injected.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

from simulators.population import (
    REGION,
    USCC_ALPHABET,
    Person,
    ServiceItem,
    SimulatorArgumentError,
    Unit,
    build_population,
    id_to_15,
    parse_month,
    service_items,
)

BJ_HEADER = (
    "业务流水号", "办件编号", "实施编码", "事项名称", "申请人类型", "申请人名称", "证件号码", "联系电话",
    "业务来源", "申请日期", "受理日期", "办结日期", "办理状态", "承诺时限(天)", "收费金额(元)", "更新时间",
)
PJ_HEADER = ("评价流水号", "办件编号", "评价分值", "评价渠道", "是否默认好评", "评价意见", "评价时间")

FILE_FAULTS = ("missing_ok", "bad_trailer", "no_trailer", "bad_header")
ROW_FAULTS = ("wrong_field_count", "undecodable", "invalid_id", "invalid_uscc", "unknown_code", "bad_date")
LATE_FAULTS = ("duplicate_drop", "changed_file")
FAULTS = FILE_FAULTS + ("redelivery",) + LATE_FAULTS + ROW_FAULTS

BEIJING = timezone(timedelta(hours=8))
# Cases applied this long before a window can still change inside it; the
# lifecycle below is clamped to stay within it.
LOOKBACK_DAYS = 62
_LAST_EVENT_DAYS = 52

# --- calendar ---------------------------------------------------------------

# Approximate public holidays and make-up working days (调休) of 2025–2026.
# They only shape volumes and promised deadlines, so approximate is enough.
_HOLIDAY_RANGES = (
    ("2025-01-01", "2025-01-01"), ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"), ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08"),
    ("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"), ("2026-04-04", "2026-04-06"),
    ("2026-05-01", "2026-05-05"), ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"),
    ("2026-10-01", "2026-10-07"),
)
_MAKEUP_WORKDAYS = frozenset(date.fromisoformat(d) for d in (
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
))


def _expand(ranges) -> frozenset[date]:
    days = set()
    for start, end in ranges:
        d, last = date.fromisoformat(start), date.fromisoformat(end)
        while d <= last:
            days.add(d)
            d += timedelta(days=1)
    return frozenset(days)


_HOLIDAYS = _expand(_HOLIDAY_RANGES)


@lru_cache(maxsize=4096)
def is_workday(d: date) -> bool:
    return d in _MAKEUP_WORKDAYS or (d.weekday() < 5 and d not in _HOLIDAYS)


@lru_cache(maxsize=65536)
def add_workdays(d: date, n: int) -> date:
    while not is_workday(d):
        d += timedelta(days=1)
    while n > 0:
        d += timedelta(days=1)
        if is_workday(d):
            n -= 1
    return d


@lru_cache(maxsize=65536)
def _workdays_between(a: date, b: date) -> int:
    n, d = 0, a
    while d < b:
        d += timedelta(days=1)
        n += is_workday(d)
    return n


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def _office_time(rng: random.Random, d: date) -> datetime:
    # Hall hours 08:30–12:00 and 14:30–17:30.
    r = rng.random
    second = 30600 + int(r() * 12600) if r() < 0.55 else 52200 + int(r() * 10800)
    return _midnight(d) + timedelta(seconds=second)


_ONLINE_HOURS = tuple(range(24))
_ONLINE_CUM = tuple(accumulate((1, 1, 0.5, 0.5, 0.5, 1, 2, 4, 8, 10, 10, 9, 6, 5, 8, 9, 9, 8, 6, 6, 7, 7, 5, 3)))


def _online_time(rng: random.Random, d: date) -> datetime:
    hour = rng.choices(_ONLINE_HOURS, cum_weights=_ONLINE_CUM)[0]
    return _midnight(d) + timedelta(seconds=hour * 3600 + int(rng.random() * 3600))


def _next_office_moment(rng: random.Random, after: datetime, delay_workdays: int) -> datetime:
    t = _office_time(rng, add_workdays(after.date(), delay_workdays))
    if t <= after:  # the same day, later than planned: staff finish it after the event
        t = after + timedelta(minutes=rng.randint(3, 90), seconds=rng.randrange(60))
    return t


# --- cases and evaluations ----------------------------------------------------


@dataclass(slots=True)
class _Version:
    day: date
    updated: datetime
    status: str
    accepted: datetime | None
    finished: datetime | None


@dataclass(slots=True)
class _Evaluation:
    eval_no: str
    time: datetime
    score: str
    channel: str
    default: str
    comment: str
    style: str


@dataclass(slots=True)
class _Case:
    case_no: str
    seq: int
    applied: datetime
    item: ServiceItem
    applicant_type: str  # "1" 单位, "2" 个人
    person: Person | None
    unit: Unit | None
    name: str
    cert: str  # as the source shows it (legacy, lower-case x, full-width …)
    phone: str
    channel: str
    promise: str
    fee: str
    style: str  # date format of the row: full, short, date
    hide_accept: bool
    versions: list[_Version] = field(default_factory=list)
    evaluation: _Evaluation | None = None


_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_PHONE_ITEMS = ("社会保障卡挂失", "个人权益记录查询打印", "失业登记", "城乡居民养老保险参保登记")


def _fmt(dt: datetime | None, style: str) -> str:
    # isoformat rather than strftime: a month formats a few hundred thousand of these.
    if dt is None:
        return ""
    if style == "full":
        return dt.isoformat(" ", "seconds")
    if style == "short":
        return f"{dt.year}/{dt.month}/{dt.day} {dt.hour}:{dt.minute:02d}"
    return dt.date().isoformat()


def _ymd(d: date | datetime) -> str:
    return f"{d.year}{d.month:02d}{d.day:02d}"


def _style(rng: random.Random) -> str:
    r = rng.random()
    return "full" if r < 0.88 else "short" if r < 0.97 else "date"


def _shown_cert(rng: random.Random, p: Person) -> str:
    n = p.cert_no
    if p.cert_type != "111":
        return n
    r = rng.random()
    if r < 0.03 and n[6:8] == "19" and n[0] in "123456":
        return id_to_15(n)
    if r < 0.035:
        return n.translate(_FULLWIDTH)
    if r < 0.038:
        return f" {n} "
    if n[-1] == "X" and rng.random() < 0.35:
        return n[:-1] + "x"
    return n


def _shown_phone(rng: random.Random, p: Person) -> str:
    r, m = rng.random(), p.mobile
    if r < 0.02:
        return ""
    if r < 0.07 and p.landline:
        return p.landline
    if r < 0.08:
        return f"+86 {m}"
    if r < 0.09:
        return f"{m[:3]}-{m[3:7]}-{m[7:]}"
    return m


def _shown_promise(rng: random.Random, item: ServiceItem) -> str:
    if item.case_type == "1":
        return "" if rng.random() < 0.5 else "0"
    return "" if rng.random() < 0.03 else str(item.promise_days)


def _shown_fee(rng: random.Random, item: ServiceItem) -> str:
    r = rng.random()
    if item.fee == "0.00":
        return "" if r < 0.55 else "0" if r < 0.65 else "0.00"
    whole = item.fee.split(".")[0]
    return item.fee if r < 0.7 else whole if r < 0.9 else whole + ".0"


def _lifecycle(rng: random.Random, item: ServiceItem, channel: str, applied: datetime) -> list[tuple[datetime, str]]:
    events = [(applied, "待受理")]
    t = applied
    if channel in ("1", "3", "5"):  # at the counter, on the phone or at a kiosk: decided on the spot
        t += timedelta(minutes=rng.randint(1, 8), seconds=rng.randrange(60))
        if rng.random() < 0.006:
            return events + [(t, "不予受理")]
    else:
        t = _next_office_moment(rng, t, rng.choice((0, 0, 0, 1, 1, 2)))
        r = rng.random()
        if r < 0.04:
            return events + [(t, "不予受理")]
        if r < 0.06:
            return events + [(t, "已退回")]
        if r < 0.065:  # a duplicate submission
            return events + [(t, "已作废")]
    events.append((t, "已受理"))
    accepted = t
    if item.case_type == "1":
        minutes = rng.randint(2, 30) if channel in ("1", "3", "5") else rng.randint(5, 120)
        return events + [(t + timedelta(minutes=minutes, seconds=rng.randrange(60)), "已办结")]
    t = _next_office_moment(rng, t, rng.choice((0, 0, 1)))
    events.append((t, "办理中"))
    deadline = add_workdays(accepted.date(), item.promise_days)
    if rng.random() < 0.08:
        t = _next_office_moment(rng, t, rng.randint(0, 2))
        events.append((t, "补正"))
        if rng.random() < 0.2:  # the applicant never brought the missing papers
            return events + [(_next_office_moment(rng, t, rng.randint(5, 8)), "已退回")]
        t = _next_office_moment(rng, t, rng.randint(1, 5))
        events.append((t, "办理中"))
        deadline = add_workdays(t.date(), max(1, item.promise_days // 2))
    if rng.random() < 0.12:  # reassigned or annotated: a new row without a status change
        t = _next_office_moment(rng, t, 1)
        events.append((t, "办理中"))
    if rng.random() < 0.004:
        return events + [(_next_office_moment(rng, t, 1), "已作废")]
    remaining = _workdays_between(t.date(), deadline)
    delay = rng.randint(0, remaining) if rng.random() < 0.93 else remaining + rng.randint(1, 4)
    return events + [(_next_office_moment(rng, t, delay), "已办结")]


_LAST_SECOND = timedelta(hours=23, minutes=59, seconds=59)
_EXPORT_LAG = tuple(timedelta(seconds=s) for s in range(120))


def _versions(events: list[tuple[datetime, str]], rng: random.Random) -> list[_Version]:
    accepted = next((t for t, s in events if s == "已受理"), None)
    finished = next((t for t, s in events if s == "已办结"), None)
    versions: list[_Version] = []
    for i, (t, status) in enumerate(events):
        if i + 1 < len(events) and events[i + 1][0].date() == t.date():
            continue  # the export shows a case once a day, in its last state
        day = t.date()
        updated = min(t + _EXPORT_LAG[int(rng.random() * 120)], _midnight(day) + _LAST_SECOND)
        versions.append(_Version(
            day, updated, status,
            accepted if accepted is not None and accepted <= t else None,
            finished if finished is not None and finished <= t else None,
        ))
    return versions


_PRAISE = (
    "服务态度很好，办事效率高", "工作人员耐心细致，一次就办好了", "非常满意！", "点赞", "窗口人员热情，流程清晰",
    "网上办理很方便，不用跑腿", "很快就办好了，谢谢", "满意", "办事效率高,态度好", "全程帮办，“最多跑一次”名副其实",
    "工作人员说\"材料齐全马上办\"，果然很快",
)
_FAIR = ("整体满意，排队时间稍长", "办理顺利，就是材料有点多", "还可以,希望网上流程再简化一些", "一般，等了比较久")
_COMPLAINTS = (
    "材料要求前后不一致，跑了两趟", "电话一直打不通，12333占线", "等了一个多小时，窗口只开了两个，非常不满意",
    "办了三次都没办好,态度也不好", "流程不太清楚，问了好几个人",
)
_WITH_PHONE = ("联系电话{phone}，麻烦回电", "我的手机号是{phone},有问题请联系", "办好了请短信通知{phone}")
_WITH_ID = ("身份证号{cert}的社保卡还没收到，请尽快处理", "{cert}的待遇什么时候到账？")


def _comment(rng: random.Random, score: str, case: _Case) -> str:
    if score == "5" and rng.random() < 0.45:
        return ""
    if score == "4":
        pool = _PRAISE if rng.random() < 0.6 else _FAIR
    else:
        pool = _PRAISE if score == "5" else _FAIR if score == "3" else _COMPLAINTS
    text = rng.choice(pool)
    r = rng.random()
    phone = case.person.mobile if case.person else case.unit.phone
    if r < 0.04:
        text += rng.choice(("，", ",", "。")) + rng.choice(_WITH_PHONE).format(phone=phone)
    elif r < 0.06 and case.person is not None and case.person.cert_type == "111":
        text = rng.choice(_WITH_ID).format(cert=case.person.cert_no) + "。" + text
    if rng.random() < 0.05:
        text += rng.choice(("\n", "\r\n")) + rng.choice(pool)
    return text


def _active_channel(rng: random.Random, channel: str, finished: datetime) -> tuple[str, datetime]:
    r = rng.random()
    minutes = lambda a, b: finished + timedelta(minutes=rng.uniform(a, b))  # noqa: E731
    if channel == "1":
        if r < 0.6:
            return "评价器", minutes(0.3, 5)
        return ("扫码", minutes(2, 120)) if r < 0.85 else ("短信", minutes(60, 1800))
    if channel == "5":
        return ("自助机", minutes(0.3, 3)) if r < 0.7 else ("短信", minutes(60, 1800))
    if channel == "3":
        return ("12333", minutes(60, 1560)) if r < 0.6 else ("短信", minutes(60, 1800))
    return ("网厅" if channel == "2" else "掌上人社"), minutes(10, 4320)


_SCORE_CUM = tuple(accumulate((1, 2, 4, 13, 80)))
_REFUSED_SCORE_CUM = tuple(accumulate((30, 30, 25, 10, 5)))
_ACTIVE_SHARE = {"1": 0.65, "5": 0.5, "3": 0.55, "2": 0.35, "4": 0.45}


def _evaluate(rng: random.Random, case: _Case, events: list[tuple[datetime, str]]) -> _Evaluation | None:
    last_time, last = events[-1]
    if last == "已办结":
        if rng.random() < 0.006:
            return None
        active = rng.random() < _ACTIVE_SHARE[case.channel]
    elif last == "不予受理" and rng.random() < 0.15:
        active = True
    else:
        return None
    style = _style(rng)
    if active:
        channel, when = _active_channel(rng, case.channel, last_time)
        score = rng.choices("12345", cum_weights=_SCORE_CUM if last == "已办结" else _REFUSED_SCORE_CUM)[0]
        comment, default = _comment(rng, score, case), "N"
    else:
        # No opinion within the period: the system gives 默认好评 in a night batch.
        when = _midnight(last_time.date() + timedelta(days=rng.choice((5, 5, 5, 6, 7)))) + timedelta(
            hours=1, seconds=rng.randrange(7200))
        channel = "" if rng.random() < 0.8 else ("网厅" if case.channel == "2" else "掌上人社")
        score, default = "5", "Y"
        comment = "" if rng.random() < 0.7 else rng.choice(("系统默认好评", "系统默认好评", "默认好评"))
    when = when.replace(microsecond=0)
    if when > case.applied + timedelta(days=LOOKBACK_DAYS - 1):
        return None
    eval_no = f"PJ{_ymd(when)}{_ymd(case.applied)[2:]}{case.seq:06d}"
    return _Evaluation(eval_no, when, score, channel, default, comment, style)


@lru_cache(maxsize=16)
def _daily_counts(year: int, month: int, seed: int, cases_per_month: int) -> tuple[int, ...]:
    rng = random.Random(f"hrss-volume:{seed}:{year}-{month:02d}")
    days = [date(year, month, d) for d in range(1, _days_in_month(year, month) + 1)]
    weights = [(1.0 if is_workday(d) else 0.12) * rng.uniform(0.85, 1.15) for d in days]
    shares = [cases_per_month * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(days)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[: cases_per_month - sum(counts)]:
        counts[i] += 1
    return tuple(counts)


def _days_in_month(year: int, month: int) -> int:
    return ((date(year + month // 12, month % 12 + 1, 1)) - date(year, month, 1)).days


_WORKDAY_CHANNELS = (("1", "2", "4", "5", "3"), tuple(accumulate((50, 24, 16, 6, 4))))
_OFFDAY_CHANNELS = (("2", "4", "3"), tuple(accumulate((55, 40, 5))))


def _horizon(item: ServiceItem, channel: str, applied: datetime) -> date:
    """A day by which the case has surely made its last change and got its evaluation.

    It lets a window skip cases of the lookback period without generating
    them; it errs on the late side (extra working days, nights rolling over).
    """
    if item.case_type == "1":
        workdays = 0 if channel in ("1", "3", "5") else 2
    else:
        promise = item.promise_days
        workdays = 3 + max(promise + 6, 2 + max(8, 5 + max(1, promise // 2) + 6))
    return min(add_workdays(applied.date(), workdays + 3) + timedelta(days=9),
               applied.date() + timedelta(days=LOOKBACK_DAYS))


@dataclass(frozen=True, slots=True)
class _Skeleton:
    seq: int
    applied: datetime
    channel: str
    item: ServiceItem
    case_seed: int
    horizon: date


@lru_cache(maxsize=512)
def _skeletons(day: date, seed: int, cases_per_month: int) -> tuple[_Skeleton, ...]:
    """The cases applied on ``day``, cheap enough to draw for every lookback day."""
    n = _daily_counts(day.year, day.month, seed, cases_per_month)[day.day - 1]
    rng = random.Random(f"hrss:{seed}:{day.isoformat()}")
    channels, weights = _WORKDAY_CHANNELS if is_workday(day) else _OFFDAY_CHANNELS
    starts = []
    for _ in range(n):
        channel = rng.choices(channels, cum_weights=weights)[0]
        staffed = channel in ("1", "3", "5")  # counter, kiosk in the hall, 12333 operators
        starts.append(((_office_time if staffed else _online_time)(rng, day), channel))
    starts.sort()  # 办件编号 are issued in order of application
    items = service_items("hrss")
    phone_items = [i for i in items if i.name in _PHONE_ITEMS]
    out = []
    for seq, (applied, channel) in enumerate(starts, 1):
        item = rng.choice(phone_items if channel == "3" else items)
        out.append(_Skeleton(seq, applied, channel, item, rng.getrandbits(64), _horizon(item, channel, applied)))
    return tuple(out)


def _build_case(sk: _Skeleton, seed: int) -> _Case:
    # Each case draws from its own stream: which other cases a window needs
    # never changes what this one looks like.
    rng = random.Random(sk.case_seed)
    item, applied = sk.item, sk.applied
    pop = build_population(seed)
    if item.applicant == "unit":
        unit, person = pop.pick_unit(rng), None
        cert = unit.uscc.lower() if rng.random() < 0.005 else unit.uscc
        applicant_type, name, phone = "1", unit.name, unit.phone
    else:
        person, unit = pop.pick_person(rng), None
        applicant_type, name, cert, phone = "2", person.name, _shown_cert(rng, person), _shown_phone(rng, person)
    case = _Case(
        case_no=f"RS{REGION}{_ymd(applied)}{sk.seq:06d}", seq=sk.seq, applied=applied, item=item,
        applicant_type=applicant_type, person=person, unit=unit, name=name, cert=cert, phone=phone,
        channel=sk.channel, promise=_shown_promise(rng, item), fee=_shown_fee(rng, item), style=_style(rng),
        hide_accept=rng.random() < 0.003,
    )
    limit = applied + timedelta(days=_LAST_EVENT_DAYS)
    events = [e for e in _lifecycle(rng, item, sk.channel, applied) if e[0] <= limit]
    case.versions = _versions(events, rng)
    case.evaluation = _evaluate(rng, case, events)
    last = max(case.versions[-1].day, case.evaluation.time.date() if case.evaluation else date.min)
    assert last <= sk.horizon, f"{case.case_no} changes on {last}, after its horizon {sk.horizon}"
    return case


# --- records and files --------------------------------------------------------


@dataclass(slots=True)
class _Record:
    key: str  # 办件编号 or 评价流水号
    fields: list[str]
    order: tuple  # sort key inside the file
    times: tuple[tuple[int, datetime], ...]  # (field index, instant) of the filled date fields
    case: _Case
    version: _Version | None = None


def _bj_record(case: _Case, index: int) -> _Record:
    v = case.versions[index]
    accepted = None if case.hide_accept else v.accepted
    s = case.style
    fields = [
        f"{case.case_no[8:16]}{case.seq:06d}{index + 1:02d}", case.case_no, case.item.impl_code, case.item.name,
        case.applicant_type, case.name, case.cert, case.phone, case.channel,
        _fmt(case.applied, s), _fmt(accepted, s), _fmt(v.finished, s), v.status, case.promise, case.fee,
        _fmt(v.updated, s),
    ]
    times = tuple((i, t) for i, t in ((9, case.applied), (10, accepted), (11, v.finished), (15, v.updated)) if t)
    return _Record(case.case_no, fields, (v.updated, case.case_no), times, case, v)


def _pj_record(case: _Case) -> _Record:
    e = case.evaluation
    fields = [e.eval_no, case.case_no, e.score, e.channel, e.default, e.comment, _fmt(e.time, e.style)]
    return _Record(e.eval_no, fields, (e.time, e.eval_no), ((6, e.time),), case)


@dataclass(slots=True)
class _File:
    kind: str
    day: date
    records: list[_Record]
    correction: int = 0
    header: list[str] = field(default_factory=list)
    trailer_delta: int = 0
    trailer: bool = True
    marker: bool = True

    @property
    def name(self) -> str:
        suffix = f"_R{self.correction}" if self.correction else ""
        return f"HRSS_{self.kind}_{self.day:%Y%m%d}{suffix}.csv"


def _collect(days: list[date], seed: int, cases_per_month: int) -> tuple[list[_File], int]:
    first, last = days[0], days[-1]
    wanted = set(days)
    bj: dict[date, list[_Record]] = {d: [] for d in days}
    pj: dict[date, list[_Record]] = {d: [] for d in days}
    applied_in_window = 0
    d = first - timedelta(days=LOOKBACK_DAYS)
    while d <= last:
        for sk in _skeletons(d, seed, cases_per_month):
            applied_in_window += d in wanted
            if sk.horizon < first:
                continue
            case = _build_case(sk, seed)
            for i, v in enumerate(case.versions):
                if v.day in wanted:
                    bj[v.day].append(_bj_record(case, i))
            e = case.evaluation
            if e is not None and e.time.date() in wanted:
                pj[e.time.date()].append(_pj_record(case))
        d += timedelta(days=1)
    files = []
    for day in days:
        for kind, header, recs in (("BJ", BJ_HEADER, bj[day]), ("PJ", PJ_HEADER, pj[day])):
            recs.sort(key=lambda r: r.order)
            files.append(_File(kind, day, recs, header=list(header)))
    return files, applied_in_window


# --- faults -------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault: where it is and which record carries it."""

    fault: str
    file: str
    record: int | None = None  # 1-based data record index in ``file``; None for a whole-file fault
    key: str | None = None  # 办件编号 (BJ) or 评价流水号 (PJ) of the record
    detail: str = ""


def _wrong_check(rng: random.Random, right: str, alphabet: str) -> str:
    return rng.choice([c for c in alphabet if c != right])


def _bad_header(rng: random.Random, f: _File) -> str:
    h = f.header
    variant = rng.randrange(4)
    if variant == 0 and f.kind == "BJ":
        h[13], h[14] = "承诺时限（天）", "收费金额（元）"
        return "full-width parentheses"
    if variant == 1:
        i = rng.randrange(len(h) - 1)
        h[i], h[i + 1] = h[i + 1], h[i]
        return f"columns {i + 1} and {i + 2} swapped"
    if variant == 2:
        i = rng.randrange(len(h))
        old, h[i] = h[i], {"联系电话": "手机号码", "评价分值": "评价分数"}.get(h[i], h[i] + "1")
        return f"{old} renamed to {h[i]}"
    h.append("备注")
    return "extra column 备注"


def _fault_rng(seed: int, label: str, fault: str) -> random.Random:
    return random.Random(f"hrss-fault:{seed}:{label}:{fault}")


def _apply_file_fault(fault: str, f: _File, rng: random.Random) -> str:
    if fault == "missing_ok":
        f.marker = False
        return "no .ok marker"
    if fault == "bad_trailer":
        f.trailer_delta = 1 if not f.records or rng.random() < 0.5 else -1
        return f"trailer {len(f.records) + f.trailer_delta} for {len(f.records)} records"
    if fault == "no_trailer":
        f.trailer = False
        return "no trailer line"
    return _bad_header(rng, f)


def _row_candidates(fault: str, f: _File) -> list[int]:
    if fault == "invalid_id":
        if f.kind != "BJ":
            return []
        return [i for i, r in enumerate(f.records)
                if r.case.person is not None and r.case.person.cert_type == "111"]
    if fault == "invalid_uscc":
        return [i for i, r in enumerate(f.records) if f.kind == "BJ" and r.case.applicant_type == "1"]
    return list(range(len(f.records)))


def _apply_row_fault(fault: str, f: _File, rec: _Record, rng: random.Random) -> str:
    x = rec.fields
    if fault == "wrong_field_count":
        i = 3 if f.kind == "BJ" else 5
        text = x[i]
        cut = text.find("、") if "、" in text else max(1, len(text) // 2)
        x[i:i + 1] = [text[:cut], text[cut + (text[cut:cut + 1] == "、"):]]
        return f"field {i + 1} split by a stray separator"
    if fault == "undecodable":
        i = 5
        # Lone surrogates become these raw bytes when the file is encoded.
        bad, shown = rng.choice((("\udc81 ", "b'\\x81\\x20'"), ("\udcff", "b'\\xff'")))
        text = x[i] or "好"
        x[i] = text[:1] + bad + text[1:]
        return f"field {i + 1} holds {shown}"
    if fault == "invalid_id":
        n = rec.case.person.cert_no
        x[6] = n[:17] + _wrong_check(rng, n[17], "0123456789X")
        return "证件号码 check character wrong"
    if fault == "invalid_uscc":
        n = rec.case.unit.uscc
        x[6] = n[:17] + _wrong_check(rng, n[17], USCC_ALPHABET)
        return "证件号码 USCC check character wrong"
    if fault == "unknown_code":
        if f.kind == "BJ":
            i, value = rng.choice(((12, "已挂起"), (8, "9"), (4, "3")))
        elif x[4] == "N" and rng.random() < 0.4:
            i, value = 3, "微信"
        else:
            i, value = 2, rng.choice(("6", "0"))
        x[i] = value
        return f"{(BJ_HEADER if f.kind == 'BJ' else PJ_HEADER)[i]}={value}"
    # bad_date
    i, t = rng.choice(rec.times)
    x[i] = rng.choice((
        f"{t:%d/%m/%Y}", f"{t.year}年{t.month}月{t.day}日", f"{t:%Y.%m.%d %H:%M:%S}", f"{t:%Y%m%d%H%M%S}",
    ))
    return f"{(BJ_HEADER if f.kind == 'BJ' else PJ_HEADER)[i]}={x[i]}"


def _redelivery(bj: _File, pj: _File, rng: random.Random) -> tuple[list[_File], list[FaultRecord]]:
    out, notes = [], []
    for f in (bj, pj):
        r1 = _File(f.kind, f.day, [], correction=1, header=list(f.header))
        keep = [_Record(r.key, list(r.fields), r.order, r.times, r.case, r.version) for r in f.records]
        missing = keep.pop(rng.randrange(len(keep)))
        corrected = set(rng.sample(range(len(keep)), max(2 if len(keep) > 1 else 1, round(0.03 * len(keep)))))
        for j in sorted(corrected):
            rec = keep[j]
            same_time = j % 2 == 0
            if f.kind == "BJ":
                new_phone = rec.case.person.mobile if rec.case.person else rec.case.unit.phone
                rec.fields[7] = new_phone if new_phone != rec.fields[7] else f"0561-{rng.randrange(10**8):08d}"
                if not same_time:
                    later = rec.version.updated + timedelta(seconds=rng.randint(1, 3600))
                    end_of_day = _midnight(f.day) + _LAST_SECOND
                    rec.fields[15] = _fmt(min(later, end_of_day), "full")
            else:
                same_time = True  # an evaluation keeps its 评价时间
                rec.fields[5] = (rec.fields[5] + "（已更正）") if rec.fields[5] else "满意"
            detail = "corrected, 更新时间 unchanged" if same_time else "corrected, 更新时间 later"
            notes.append(FaultRecord("redelivery", r1.name, j + 1, rec.key, detail))
        r1.records = keep
        notes.append(FaultRecord("redelivery", r1.name, None, missing.key, f"key of {f.name} missing from correction"))
        out.append(r1)
    return out, notes


def _inject(files: list[_File], faults: tuple[str, ...], fault_rate: float, seed: int, label: str):
    injected: list[FaultRecord] = []
    late: list[FaultRecord] = []
    extra: list[_File] = []
    taken: set[str] = set()  # files whose content must stay as planned
    n_files = max(1, round(fault_rate * len(files)))
    for fault in FILE_FAULTS:
        if fault not in faults:
            continue
        rng = _fault_rng(seed, label, fault)
        free = [f for f in files if f.name not in taken]
        for f in rng.sample(free, min(n_files, len(free))):
            taken.add(f.name)
            injected.append(FaultRecord(fault, f.name, None, None, _apply_file_fault(fault, f, rng)))
    if "redelivery" in faults:
        rng = _fault_rng(seed, label, "redelivery")
        pairs = [(files[i], files[i + 1]) for i in range(0, len(files), 2)
                 if files[i].name not in taken and files[i + 1].name not in taken
                 and len(files[i].records) >= 3 and len(files[i + 1].records) >= 3]
        if pairs:
            bj, pj = rng.choice(pairs)
            taken.update((bj.name, pj.name))
            new_files, notes = _redelivery(bj, pj, rng)
            extra += new_files
            injected += notes
    for fault in LATE_FAULTS:
        if fault not in faults:
            continue
        rng = _fault_rng(seed, label, fault)
        free = [f for f in files if f.name not in taken and f.records]
        if free:
            f = rng.choice(free)
            taken.add(f.name)
            action = ("drop again unchanged after archiving" if fault == "duplicate_drop" 
                      else "drop a changed file under this name")
            late.append(FaultRecord(fault, f.name, None, None, action))
    hit: set[tuple[str, int]] = set()
    open_files = [f for f in files if f.name not in taken]
    total = sum(len(f.records) for f in open_files)
    for fault in ROW_FAULTS:
        if fault not in faults:
            continue
        rng = _fault_rng(seed, label, fault)
        spots = [(f, i) for f in open_files for i in _row_candidates(fault, f) if (f.name, i) not in hit]
        for f, i in rng.sample(spots, min(len(spots), max(1, round(fault_rate * total)))):
            hit.add((f.name, i))
            rec = f.records[i]
            injected.append(FaultRecord(fault, f.name, i + 1, rec.key, _apply_row_fault(fault, f, rec, rng)))
    injected.sort(key=lambda r: (r.file, r.record or 0, r.fault))
    return extra, injected, late


# --- writing ------------------------------------------------------------------


@dataclass(frozen=True)
class DropFile:
    name: str
    kind: str  # "BJ" or "PJ"
    day: date
    correction: int  # n of a _R<n> correction; 0 for an original
    records: int  # data records written, malformed ones included
    trailer: int | None  # the count in the trailer; None when the file has none
    marker: bool
    sha256: str


@dataclass
class DropManifest:
    folder: Path
    seed: int
    cases_per_month: int
    days: tuple[date, ...]
    faults: tuple[str, ...]
    fault_rate: float
    files: list[DropFile]
    injected: list[FaultRecord]  # faults present in the written files
    late: list[FaultRecord]  # duplicate_drop / changed_file, carried out by write_late_drops()
    cases_applied: int  # cases whose 申请日期 falls on one of the written days

    def file(self, name: str) -> DropFile:
        return next(f for f in self.files if f.name == name)

    def of(self, fault: str) -> list[FaultRecord]:
        return [r for r in self.injected + self.late if r.fault == fault]

    def in_file(self, name: str) -> list[FaultRecord]:
        return [r for r in self.injected if r.file == name]

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, ensure_ascii=False, indent=1, default=str)


def _encode(header: list[str], rows: list[list[str]], trailer: str | None) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    if trailer is not None:
        buf.write(f"合计,{trailer}\r\n")
    # Lone surrogates stand for the raw bytes of the undecodable fault.
    return buf.getvalue().encode("gb18030", "surrogateescape")


def _drop_mtime(day: date, correction: int, kind: str) -> float:
    # The export runs in the small hours after the day; corrections come later.
    at = datetime(day.year, day.month, day.day, 1, 30 if kind == "BJ" else 31, tzinfo=BEIJING)
    return (at + timedelta(days=1 + correction)).timestamp()


def _write_bytes(path: Path, data: bytes, marker: bool, mtime: float) -> None:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    if marker:
        ok = path.with_name(path.name + ".ok")
        ok.write_bytes(b"")
        os.utime(ok, (mtime + 1, mtime + 1))


def _write_file(folder: Path, f: _File) -> DropFile:
    trailer = str(len(f.records) + f.trailer_delta) if f.trailer else None
    data = _encode(f.header, [r.fields for r in f.records], trailer)
    _write_bytes(folder / f.name, data, f.marker, _drop_mtime(f.day, f.correction, f.kind))
    return DropFile(f.name, f.kind, f.day, f.correction, len(f.records),
                    int(trailer) if trailer is not None else None, f.marker, hashlib.sha256(data).hexdigest())


def _check_faults(faults) -> tuple[str, ...]:
    faults = tuple(sorted(set(faults)))
    unknown = [x for x in faults if x not in FAULTS]
    if unknown:
        raise SimulatorArgumentError(f"unknown hrss fault(s) {unknown}; choose from {', '.join(FAULTS)}")
    return faults


def _write_days(folder, days: list[date], label: str, seed: int, cases_per_month: int,
                faults, fault_rate: float) -> DropManifest:
    faults = _check_faults(faults)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files, applied = _collect(days, seed, cases_per_month)
    extra, injected, late = _inject(files, faults, fault_rate, seed, label)
    written = [_write_file(folder, f) for f in files + extra]
    return DropManifest(folder, seed, cases_per_month, tuple(days), faults, fault_rate,
                        written, injected, late, applied)


def write_month(folder, month: str = "2026-10", seed: int = 7, cases_per_month: int = 20_000,
                faults=frozenset(), fault_rate: float = 0.01) -> DropManifest:
    """Write the BJ and PJ drops of every day of ``month`` into ``folder``."""
    year, mon = parse_month(month)
    days = [date(year, mon, d) for d in range(1, _days_in_month(year, mon) + 1)]
    return _write_days(folder, days, month, seed, cases_per_month, faults, fault_rate)


def write_day(folder, day, seed: int = 7, cases_per_month: int = 20_000,
              faults=frozenset(), fault_rate: float = 0.01) -> DropManifest:
    """Write the BJ and PJ drops of one day; without faults the same bytes as write_month's."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    return _write_days(folder, [day], day.isoformat(), seed, cases_per_month, faults, fault_rate)


# --- late drops: the same name again -------------------------------------------


def _delivered(folder: Path, name: str) -> Path:
    for candidate in (folder / "archive" / name, folder / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name} was never dropped in {folder} (looked in archive/ too)")


def redrop(folder, name: str) -> Path:
    """Drop an already delivered file again, byte for byte, with a fresh marker."""
    folder = Path(folder)
    src = _delivered(folder, name)
    data, mtime = src.read_bytes(), src.stat().st_mtime + 86400
    dst = folder / name
    _write_bytes(dst, data, True, mtime)
    return dst


def write_changed_file(folder, name: str) -> Path:
    """Drop a changed file under an already used name: one record differs, the trailer still matches."""
    folder = Path(folder)
    src = _delivered(folder, name)
    rows = list(csv.reader(io.StringIO(src.read_bytes().decode("gb18030", "surrogateescape"), newline="")))
    header, body = rows[0], rows[1:]
    trailer = None
    if body and len(body[-1]) == 2 and body[-1][0] == "合计":
        trailer, body = body[-1][1], body[:-1]
    width, column = (len(BJ_HEADER), 7) if name.startswith("HRSS_BJ") else (len(PJ_HEADER), 5)
    target = next((r for r in body if len(r) == width), None)
    if target is None:
        raise SimulatorArgumentError(f"{name} has no well-formed record to change")
    if column == 7:
        target[7] = target[7][:-1] + str((int(target[7][-1]) + 1) % 10) if target[7][-1:].isdigit() else "13900000000"
    else:
        target[5] += "（补充说明）"
    dst = folder / name
    _write_bytes(dst, _encode(header, body, trailer), True, src.stat().st_mtime + 2 * 86400)
    return dst


def write_late_drops(folder, manifest: DropManifest) -> list[Path]:
    """Carry out the duplicate_drop / changed_file faults planned in ``manifest``.

    Call it after the pipeline has loaded and archived the originals.
    """
    return [redrop(folder, r.file) if r.fault == "duplicate_drop" else write_changed_file(folder, r.file)
            for r in manifest.late]


# --- bulk ---------------------------------------------------------------------

_BULK_STATES = (  # (办理状态, has 受理日期, has 办结日期)
    ("已办结", True, True), ("办理中", True, False), ("已受理", True, False), ("待受理", False, False),
    ("补正", True, False), ("不予受理", False, False), ("已退回", False, False), ("已作废", False, False),
)
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
_BULK_STATE_CUM = tuple(accumulate((60, 15, 10, 6, 3, 3, 2, 1)))
_BULK_BODIES = 16_384  # distinct applicants enough to keep pseudonym caches honest


def _bulk_body(rng: random.Random, day: date, seed: int) -> str:
    """Everything of a BJ row after 办件编号: a valid row shape of a plausible case."""
    item = rng.choice(service_items("hrss"))
    pop = build_population(seed)
    if item.applicant == "unit":
        u = pop.pick_unit(rng)
        who = ("1", u.name, u.uscc, u.phone)
    else:
        p = pop.pick_person(rng)
        who = ("2", p.name, p.cert_no, p.mobile)
    if _NEEDS_QUOTES.search("".join(who)):
        raise AssertionError(f"a bulk value needs CSV quoting: {who}")
    status, accepted, finished = rng.choices(_BULK_STATES, cum_weights=_BULK_STATE_CUM)[0]
    applied = _office_time(rng, day - timedelta(days=rng.randrange(16)))
    acc = applied + timedelta(minutes=rng.randint(1, 600)) if accepted else None
    fin = (acc or applied) + timedelta(minutes=rng.randint(5, 6000)) if finished else None
    last = max(t for t in (applied, acc, fin) if t)
    updated = max(last, _midnight(day)) + timedelta(seconds=rng.randrange(1, 3600))
    updated = min(updated, _midnight(day) + _LAST_SECOND)
    acc, fin = (t and min(t, updated) for t in (acc, fin))
    promise = str(item.promise_days) if item.case_type == "2" else ""
    return ",".join((item.impl_code, item.name, *who, rng.choice("12245"), _fmt(applied, "full"),
                     _fmt(acc, "full"), _fmt(fin, "full"), status, promise, item.fee, _fmt(updated, "full")))


def write_bulk(folder, rows: int = 1_000_000, seed: int = 7, day="2026-10-31",
               chunk_rows: int = 50_000) -> DropFile:
    """One large valid HRSS_BJ file for benchmarks, streamed in chunks of ``chunk_rows``.

    Each row is a new case (its own 业务流水号 and 办件编号); the rest of the row
    comes from a pool of pre-encoded case bodies, which is what makes a
    million rows take seconds rather than minutes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    day = date.fromisoformat(day) if isinstance(day, str) else day
    rng = random.Random(f"hrss-bulk:{seed}")
    bodies = [_bulk_body(rng, day, seed).encode("gb18030") for _ in range(min(rows, _BULK_BODIES) or 1)]
    pick = rng.randrange if len(bodies) != _BULK_BODIES else (lambda _n: rng.getrandbits(14))
    ymd = f"{day:%Y%m%d}".encode()
    case_prefix = f"RS{REGION}{day:%Y%m%d}B".encode()
    path = folder / f"HRSS_BJ_{day:%Y%m%d}.csv"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        def put(data: bytes) -> None:
            out.write(data)
            digest.update(data)

        put((",".join(BJ_HEADER) + "\r\n").encode("gb18030"))
        n_bodies = len(bodies)
        for start in range(0, rows, chunk_rows):
            put(b"".join([
                b"%s%09d,%s%08d,%s\r\n" % (ymd, n, case_prefix, n, bodies[pick(n_bodies)])
                for n in range(start, min(rows, start + chunk_rows))
            ]))
        put(f"合计,{rows}\r\n".encode("gb18030"))
    mtime = _drop_mtime(day, 0, "BJ")
    os.utime(path, (mtime, mtime))
    path.with_name(path.name + ".ok").write_bytes(b"")
    return DropFile(path.name, "BJ", day, 0, rows, rows, True, digest.hexdigest())


# --- command line -------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.hrss", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="drop folder to write into")
    parser.add_argument("--month", default="2026-10", help="month to simulate, e.g. 2026-10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cases-per-month", type=int, default=20_000)
    parser.add_argument("--fault", action="extend", nargs="+", default=[], metavar="NAME",
                        help=f"inject a fault ({', '.join(FAULTS)}, or all)")
    parser.add_argument("--fault-rate", type=float, default=0.01)
    parser.add_argument("--bulk-rows", type=int, help="write only one big HRSS_BJ file of N rows")
    parser.add_argument("--redrop", metavar="NAME", help="drop an archived file again unchanged")
    parser.add_argument("--change", metavar="NAME", help="drop a changed file under an used name")
    parser.add_argument("--manifest", type=Path, help="write the manifest as JSON to this path")
    args = parser.parse_args(argv)
    faults = FAULTS if "all" in args.fault else tuple(args.fault)
    try:
        if args.redrop or args.change:
            path = redrop(args.out, args.redrop) if args.redrop else write_changed_file(args.out, args.change)
            print(f"wrote {path}")
            return 0
        started = time.perf_counter()
        if args.bulk_rows is not None:
            year, mon = parse_month(args.month)
            last = date(year, mon, _days_in_month(year, mon))
            f = write_bulk(args.out, rows=args.bulk_rows, seed=args.seed, day=last)
            took = time.perf_counter() - started
            print(f"wrote {args.out / f.name}: {f.records} rows in {took:.2f} s "
                  f"({f.records / took:,.0f} rows/s, population and case pool included)")
            return 0
        m = write_month(args.out, args.month, args.seed, args.cases_per_month, faults, args.fault_rate)
    except (SimulatorArgumentError, FileNotFoundError) as e:
        print(f"hrss simulator: {e}", file=sys.stderr)
        return 2
    took = time.perf_counter() - started
    records = sum(f.records for f in m.files)
    print(f"wrote {len(m.files)} files, {records} records, {m.cases_applied} cases applied in {args.month} "
          f"to {args.out} in {took:.2f} s")
    for fault in FAULTS:
        hits = m.of(fault)
        if hits:
            first = hits[0]
            where = first.file + (f" record {first.record}" if first.record else "")
            print(f"  {fault:18} {len(hits):5}  e.g. {where}: {first.detail}")
    if args.manifest:
        args.manifest.write_text(m.to_json(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
