"""Stand-in for the 公安 one-way exchange outbox described in contracts/police.md.

The 前置机 drops numbered batches ``GA_<yyyyMMdd>_<seq>.xml`` several times a
day, each followed by its ``.sha256`` manifest. A batch carries the cases that
changed since the previous one (a case shows up again at each step of its
lifecycle, in its latest state) and the evaluations made in between. Batch
numbers count from the first batch of 2025-01-01, so consecutive months
continue the numbering. A month is planned on its own: cases applied before it
do not reappear in it.

Everything comes from the seed and the calendar, never from the clock: two
runs with the same arguments write byte-identical folders.

Faults (all off unless named in ``faults``), each on its own batch:

====================  ========================================================
corrupt               file changed after its manifest was written (one digit)
malformed             a bare ``&`` between the elements: not well-formed
wrong_counts          the root's ``cases`` is one more than the CASE elements
bad_batch_attribute   the root's ``batch`` is not the file's seq
doctype               a DOCTYPE with nested entities (billion laughs, small)
                      and an external entity, both referenced in a CASE
unknown_elements      extra elements in DATA, in a CASE and in a PJ; one of
                      them holds a guardian's ID number
missing_manifest      the last batch of the month without its manifest
gap                   a batch number skipped: nothing written for it
duplicate             planned in ``late``: the same batch, byte for byte
batch_changed         planned in ``late``: a batch number delivered again
                      with one phone number changed
redelivery            planned in ``late``: a good delivery of the batch that
                      a corrupt/malformed/wrong_counts/bad_batch_attribute/
                      doctype fault spoiled
====================  ========================================================

``write_late`` carries out the late faults, after the pipeline has read (and
perhaps archived) the originals.
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from simulators.population import (
    REGION,
    SimulatorArgumentError,
    build_population,
    org_code_check_char,
    parse_month,
    uscc_check_char,
)

QUARANTINING = ("corrupt", "malformed", "wrong_counts", "bad_batch_attribute", "doctype")
BATCH_FAULTS = QUARANTINING + ("unknown_elements", "missing_manifest")
LATE_FAULTS = ("duplicate", "batch_changed", "redelivery")
FAULTS = BATCH_FAULTS + ("gap",) + LATE_FAULTS

EPOCH = date(2025, 1, 1)
BOM = b"\xef\xbb\xbf"
GUARDIAN_ID = "340603198001010013"  # valid per GB 11643; only ever inside an unknown element


class CData(str):
    """A value the 前置机 wraps in CDATA."""


# --- writing one batch -------------------------------------------------------


@dataclass(frozen=True)
class WrittenBatch:
    name: str
    seq: int
    day: date
    cases: int
    evaluations: int
    sha256: str  # of the file as written
    manifest: bool
    faults: tuple[str, ...]


def batch_name(seq: int, day: date) -> str:
    return f"GA_{day:%Y%m%d}_{seq:06d}.xml"


def beijing(dt: datetime) -> str:
    return f"{dt:%Y-%m-%dT%H:%M:%S}+08:00"


def _text(value: str) -> str:
    if isinstance(value, CData):
        return f"<![CDATA[{value}]]>"
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _element(name: str, value: str | None) -> str:
    return f"<{name}/>" if value is None else f"<{name}>{_text(value)}</{name}>"


def _doctype(target: str) -> str:
    laughs = "".join(f'  <!ENTITY l{i} "{f"&l{i - 1};" * 10}">\n' for i in range(1, 6))
    return f'<!DOCTYPE DATA [\n  <!ENTITY l0 "lol">\n{laughs}  <!ENTITY ext SYSTEM "{target}">\n]>'


def render(seq: int, generated: str, cases: list[dict], evaluations: list[dict], *, faults=(), bom: bool = False,
           doctype_target: str = "file:///etc/passwd") -> bytes:
    """A batch document. Record values: str (escaped), CData, "" (``<X></X>``), None (``<X/>``);
    a name left out of the dict is left out of the element."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    if "doctype" in faults:
        lines.append(_doctype(doctype_target))
    attr_seq = seq + 1 if "bad_batch_attribute" in faults else seq
    declared = len(cases) + ("wrong_counts" in faults)
    lines.append(f'<DATA batch="{attr_seq:06d}" generated="{generated}" cases="{declared}" '
                 f'evaluations="{len(evaluations)}">')
    for kind, records in (("CASE", cases), ("PJ", evaluations)):
        for i, record in enumerate(records):
            body = "".join(_element(k, v) for k, v in record.items())
            if i == 0 and "unknown_elements" in faults:
                body += f"<JHRZJHM>{GUARDIAN_ID}</JHRZJHM>" if kind == "CASE" else "<PJBQ>态度好,效率高</PJBQ>"
            if i == 0 and kind == "CASE" and "doctype" in faults:
                body += "<SXMC>&l5;</SXMC><LXDH>&ext;</LXDH>"
            lines.append(f"  <{kind}>{body}</{kind}>")
        if kind == "CASE" and "malformed" in faults:
            lines.append("  R&D")
    if "unknown_elements" in faults:
        lines.append('  <SIGN alg="SM3">3f9a0c</SIGN>')
    lines.append("</DATA>\n")
    return (BOM if bom else b"") + "\n".join(lines).encode("utf-8")


def _corrupt(data: bytes) -> bytes:
    i = next(i for i in range(len(data) - 1, -1, -1) if data[i:i + 1].isdigit())
    return data[:i] + str((int(data[i:i + 1]) + 1) % 10).encode() + data[i + 1:]


def write_batch(folder, seq: int, day: date, cases: list[dict], evaluations: list[dict], *,
                generated: str | None = None, faults=(), bom: bool = False,
                doctype_target: str = "file:///etc/passwd") -> WrittenBatch:
    """Write one batch and, unless ``missing_manifest``, its manifest."""
    faults = tuple(sorted(set(faults)))
    unknown = [f for f in faults if f not in BATCH_FAULTS]
    if unknown:
        raise SimulatorArgumentError(f"unknown batch fault(s) {unknown}; choose from {', '.join(BATCH_FAULTS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = batch_name(seq, day)
    generated = generated or beijing(datetime(day.year, day.month, day.day, 18))
    data = render(seq, generated, cases, evaluations, faults=faults, bom=bom, doctype_target=doctype_target)
    digest = hashlib.sha256(data).hexdigest()
    if "corrupt" in faults:
        data = _corrupt(data)
    (folder / name).write_bytes(data)
    if "missing_manifest" not in faults:
        (folder / f"{name}.sha256").write_text(f"{digest}  {name}\n", encoding="ascii")
    return WrittenBatch(name, seq, day, len(cases), len(evaluations), hashlib.sha256(data).hexdigest(),
                        "missing_manifest" not in faults, faults)


# --- a month of cases ----------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    name: str
    unit: str  # the accepting unit: 分局 (fenju), 出入境 (crj) or 车管所 (cgs)
    days: int  # 承诺期限 in working days; 0 for 即办件
    for_units: bool


_ITEMS = (
    _Item("居民身份证申领", "fenju", 20, False), _Item("居民身份证换领", "fenju", 20, False),
    _Item("居民身份证挂失&补领", "fenju", 20, False), _Item("临时居民身份证申领", "fenju", 0, False),
    _Item("户口迁移（迁入）", "fenju", 5, False), _Item("出生登记", "fenju", 0, False),
    _Item("户籍证明开具", "fenju", 0, False), _Item("无犯罪记录证明开具", "fenju", 3, False),
    _Item("往来港澳通行证及签注", "crj", 7, False), _Item("普通护照签发", "crj", 7, False),
    _Item("机动车驾驶证换证", "cgs", 0, False), _Item("机动车注册登记&号牌核发", "cgs", 0, False),
    _Item("旅馆业特种行业许可证核发", "fenju", 20, True), _Item("公章刻制备案", "fenju", 0, True),
)
_CHANNELS = (("CK", 55), ("WS", 15), ("YD", 20), ("ZD", 8), ("YJ", 2))
_EVAL_CHANNEL = {"CK": ("4", "3", "7"), "ZD": ("5", "7"), "WS": ("1", "7"), "YD": ("2", "3"), "YJ": ("6", "7")}
_MYD = (("A", 78), ("B", 12), ("C", 6), ("D", 3), ("E", 1))
_COMMENTS = ("", "", "办事效率高&态度好", "民警很耐心", "比预期<快>,点赞", "排队时间有点长", "材料一次说清楚了", "满意")


def _weighted(rng: random.Random, pairs) -> str:
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def _unit_uscc(key: str) -> str:
    rng = random.Random(f"police-unit:{key}")
    org = "".join(rng.choice("0123456789") for _ in range(8))
    first17 = "11" + "340600" + org + org_code_check_char(org)
    return first17 + uscc_check_char(first17)


def _impl_code(n: int, item: _Item) -> str:
    return _unit_uscc(item.unit) + "4" + f"{n + 300:07d}{1 + n % 3:03d}00"


def _office(rng: random.Random, d: date) -> datetime:
    second = 30600 + int(rng.random() * 12600) if rng.random() < 0.55 else 52200 + int(rng.random() * 10800)
    return datetime(d.year, d.month, d.day) + timedelta(seconds=second)


def _lifecycle(rng: random.Random, item: _Item, channel: str, applied: datetime) -> list[tuple[datetime, str]]:
    t = applied
    if channel in ("CK", "ZD"):
        events = [(t, "01")]
    else:
        events = [(t, "00")]
        t = max(_office(rng, applied.date() + timedelta(days=rng.choice((0, 1, 1, 2)))),
                applied + timedelta(minutes=rng.randint(5, 90)))
        if rng.random() < 0.04:
            return events + [(t, "04")]
        events.append((t, "01"))
    if item.days == 0:
        return events + [(t + timedelta(minutes=rng.randint(2, 40)), "03")]
    t += timedelta(hours=rng.uniform(0.5, 30))
    events.append((t, "02"))
    if rng.random() < 0.07:
        t += timedelta(days=rng.uniform(0.5, 3))
        events.append((t, "06"))
        if rng.random() < 0.25:
            return events + [(t + timedelta(days=rng.uniform(5, 10)), "05")]
        t += timedelta(days=rng.uniform(1, 5))
        events.append((t, "02"))
    return events + [(t + timedelta(days=rng.uniform(0.2, item.days * 1.3)), "03")]


@dataclass
class _Case:
    no: str
    item_no: int
    applicant: tuple[str, str, str, str, str]  # SQRLX, SQRXM, ZJLX, ZJHM, LXDH
    channel: str
    sxmc_cdata: bool
    events: list[tuple[datetime, str]]
    evaluation: tuple[datetime, dict] | None


def _applicant(rng: random.Random, item: _Item, seed: int) -> tuple[str, str, str, str, str]:
    pop = build_population(seed)
    if item.for_units:
        u = pop.pick_unit(rng)
        sqrlx = {"91": "2", "12": "3", "51": "4", "52": "4", "53": "4", "11": "5"}.get(u.uscc[:2], "6")
        return sqrlx, u.name, "001", u.uscc, u.phone
    p = pop.pick_person(rng)
    return "1", p.name, p.cert_type, p.cert_no, p.mobile


def _evaluate(rng: random.Random, case: _Case) -> tuple[datetime, dict] | None:
    end, status = case.events[-1]
    if status not in ("03", "04") or rng.random() < 0.1:
        return None
    personal = case.applicant[0] == "1"
    if rng.random() < 0.7:
        when = end + timedelta(minutes=rng.uniform(0.5, 2880))
        evaluator = case.applicant[3] if personal and rng.random() < 0.8 else ""
        fields = {"MYD": _weighted(rng, _MYD), "PJQD": rng.choice(_EVAL_CHANNEL[case.channel]), "MRPJ": "0",
                  "PJNR": rng.choice(_COMMENTS), "PJRZJHM": evaluator}
    else:  # no opinion within the period: the system gives a default evaluation
        when = datetime.combine(end.date() + timedelta(days=5), datetime.min.time()) + timedelta(hours=2)
        fields = {"MYD": "A", "PJQD": "", "MRPJ": "1", "PJNR": "", "PJRZJHM": ""}
    when = when.replace(microsecond=0)
    return when, {"PJBH": f"GAPJ{when:%Y%m%d}{case.no[-13:]}", "BJBH": case.no, **fields, "PJSJ": beijing(when)}


def _cases_of_day(day: date, seed: int, cases_per_day: int) -> list[_Case]:
    rng = random.Random(f"police:{seed}:{day.isoformat()}")
    weekend = day.weekday() >= 5
    n = max(1, round(cases_per_day * (0.3 if weekend else 1.0) * rng.uniform(0.8, 1.2)))
    out = []
    starts = sorted(_office(rng, day) if not weekend else _office(rng, day) + timedelta(hours=rng.uniform(-6, 4))
                    for _ in range(n))
    for k, applied in enumerate(starts, 1):
        item_no = rng.randrange(len(_ITEMS))
        item = _ITEMS[item_no]
        channel = "WS" if weekend and rng.random() < 0.6 else _weighted(rng, _CHANNELS)
        case = _Case(f"GA{REGION}{day:%Y%m%d}{k:05d}", item_no, _applicant(rng, item, seed), channel,
                     rng.random() < 0.3, [(t.replace(microsecond=0), s) for t, s in
                                           _lifecycle(rng, item, channel, applied)], None)
        case.evaluation = _evaluate(rng, case)
        out.append(case)
    return out


def _case_record(rng: random.Random, case: _Case, upto: int) -> dict:
    t, status = case.events[upto]
    item = _ITEMS[case.item_no]
    accepted = next((e for e, s in case.events[:upto + 1] if s == "01"), None)
    finished = t if status == "03" else None
    sqrlx, name, zjlx, zjhm, phone = case.applicant
    record = {
        "BJBH": case.no, "SXBM": _impl_code(case.item_no, item),
        "SXMC": CData(item.name) if case.sxmc_cdata else item.name,
        "SQRLX": sqrlx, "SQRXM": name, "ZJLX": zjlx, "ZJHM": zjhm, "LXDH": phone, "QD": case.channel,
        "SQSJ": beijing(case.events[0][0]), "SLSJ": accepted, "BJSJ": finished, "BJZT": status,
        "CNQX": str(item.days), "SLDW": _unit_uscc(item.unit), "GXSJ": beijing(t),
    }
    for name in ("SLSJ", "BJSJ"):
        if record[name] is None:  # not reached yet: an empty element, rarely none at all
            r = rng.random()
            if r < 0.05:
                del record[name]
            else:
                record[name] = None if r < 0.5 else ""
        else:
            record[name] = beijing(record[name])
    return record


@dataclass(frozen=True)
class _Batch:
    seq: int
    day: date
    generated: datetime
    bom: bool
    cases: list[dict]
    evaluations: list[dict]


def _first_seq(day: date, batches_per_day: int) -> int:
    return (day - EPOCH).days * batches_per_day + 1


def _plan(year: int, month: int, seed: int, batches_per_day: int, cases_per_day: int) -> list[_Batch]:
    days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
    slots = [(_first_seq(d, batches_per_day) + k, d,
              datetime(d.year, d.month, d.day) + timedelta(hours=24 * (k + 1) / batches_per_day, minutes=-10))
             for d in days for k in range(batches_per_day)]
    gens = [g for _, _, g in slots]
    case_events: list[list[tuple]] = [[] for _ in slots]
    evals: list[list[tuple]] = [[] for _ in slots]
    for d in days:
        for case in _cases_of_day(d, seed, cases_per_day):
            last_slot: dict[int, int] = {}  # a batch shows a case once, in its latest state in that window
            for i, (t, _) in enumerate(case.events):
                slot = bisect.bisect_left(gens, t)
                if slot < len(slots):
                    last_slot[slot] = i
            for slot, i in last_slot.items():
                case_events[slot].append((case.events[i][0], case, i))
            if case.evaluation is not None:
                slot = bisect.bisect_left(gens, case.evaluation[0])
                if slot < len(slots):
                    evals[slot].append(case.evaluation)
    batches = []
    for (seq, day, generated), changes, made in zip(slots, case_events, evals):
        rng = random.Random(f"police-render:{seed}:{seq}")
        changes.sort(key=lambda c: (c[0], c[1].no))
        made.sort(key=lambda e: (e[0], e[1]["PJBH"]))
        batches.append(_Batch(seq, day, generated, rng.random() < 0.25,
                              [_case_record(rng, case, i) for _, case, i in changes], [e for _, e in made]))
    return batches


# --- a month on disk -----------------------------------------------------------


@dataclass(frozen=True)
class Injected:
    fault: str
    seq: int
    name: str
    detail: str


@dataclass
class OutboxManifest:
    folder: Path
    month: str
    seed: int
    batches_per_day: int
    cases_per_day: int
    faults: tuple[str, ...]
    batches: list[WrittenBatch]
    injected: list[Injected]  # faults present in the written files
    late: list[Injected]  # duplicate / batch_changed / redelivery, carried out by write_late()

    def of(self, fault: str) -> list[Injected]:
        return [r for r in self.injected + self.late if r.fault == fault]


_DETAIL = {
    "corrupt": "one digit changed after the manifest was written",
    "malformed": "a bare & between the elements",
    "wrong_counts": "root cases one more than the CASE elements",
    "bad_batch_attribute": "root batch attribute is seq + 1",
    "doctype": "DOCTYPE with nested and external entities",
    "unknown_elements": "DATA/SIGN, CASE/JHRZJHM, PJ/PJBQ",
    "missing_manifest": "no .sha256 manifest",
    "gap": "batch number skipped, nothing written",
    "duplicate": "deliver again byte for byte",
    "batch_changed": "deliver again with one phone number changed",
    "redelivery": "deliver a good copy of the spoiled batch",
}


def _note(fault: str, b: _Batch) -> Injected:
    return Injected(fault, b.seq, batch_name(b.seq, b.day), _DETAIL[fault])


def _assign(faults: tuple[str, ...], batches: list[_Batch], seed: int, month: str) -> dict[str, int]:
    """Fault → index of the batch carrying it; each batch carries at most one."""
    if "redelivery" in faults and not set(QUARANTINING) & set(faults):
        raise SimulatorArgumentError(f"redelivery re-delivers a spoiled batch: add one of {', '.join(QUARANTINING)}")
    taken = {len(batches) - 1: "missing_manifest"} if "missing_manifest" in faults else {}
    free = [i for i in range(1, len(batches) - 1) if batches[i].cases]
    for fault in faults:
        if fault in ("missing_manifest", "redelivery"):
            continue
        choices = [i for i in free if i not in taken]
        if not choices:
            raise SimulatorArgumentError(f"no batch left for fault {fault}: raise batches_per_day or cases_per_day")
        taken[random.Random(f"police-fault:{seed}:{month}:{fault}").choice(choices)] = fault
    chosen = {fault: i for i, fault in taken.items()}
    if "redelivery" in faults:
        chosen["redelivery"] = chosen[next(f for f in QUARANTINING if f in faults)]
    return chosen


def write_month(folder, month: str = "2026-10", seed: int = 7, batches_per_day: int = 4, cases_per_day: int = 120,
                faults=frozenset()) -> OutboxManifest:
    """Write every batch of ``month`` into ``folder``; the manifest lists exactly what was injected."""
    faults = tuple(sorted(set(faults)))
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise SimulatorArgumentError(f"unknown police fault(s) {unknown}; choose from {', '.join(FAULTS)}")
    year, mon = parse_month(month)
    batches = _plan(year, mon, seed, batches_per_day, cases_per_day)
    chosen = _assign(faults, batches, seed, month)
    on_batch = {i: f for f, i in chosen.items() if f in BATCH_FAULTS}
    written, injected, late = [], [], []
    for i, b in enumerate(batches):
        if chosen.get("gap") == i:
            injected.append(_note("gap", b))
            continue
        fault = on_batch.get(i)
        written.append(write_batch(folder, b.seq, b.day, b.cases, b.evaluations, generated=beijing(b.generated),
                                   faults=(fault,) if fault else (), bom=b.bom))
        if fault:
            injected.append(_note(fault, b))
        late += [_note(f, b) for f in LATE_FAULTS if chosen.get(f) == i]
    return OutboxManifest(Path(folder), month, seed, batches_per_day, cases_per_day, faults, written, injected, late)


def write_late(folder, manifest: OutboxManifest) -> list[Path]:
    """Carry out the late faults of ``manifest``: call it after the pipeline has read the originals."""
    year, mon = parse_month(manifest.month)
    by_seq = {b.seq: b for b in _plan(year, mon, manifest.seed, manifest.batches_per_day, manifest.cases_per_day)}
    paths = []
    for r in manifest.late:
        b = by_seq[r.seq]
        cases = b.cases
        if r.fault == "batch_changed":
            phone = cases[0]["LXDH"]
            cases = [{**cases[0], "LXDH": phone[:-1] + str((int(phone[-1]) + 1) % 10)}, *cases[1:]]
        write_batch(folder, b.seq, b.day, cases, b.evaluations, generated=beijing(b.generated), bom=b.bom)
        paths.append(Path(folder) / r.name)
    return paths
