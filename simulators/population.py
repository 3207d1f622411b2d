"""A seeded population of people, companies and service items for the simulators.

Every department simulator draws its applicants from the same population (same
seed, same size), so one person or company shows up in several departments and
the pipeline's cross-department pseudonyms can be checked end to end.

The identifier arithmetic is repeated here on purpose: simulators may not
import the pipeline's own validators, otherwise a bug there would be mirrored
by the test data and go unnoticed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate

from faker.providers.company.zh_CN import Provider as _FakerCompany
from faker.providers.person.zh_CN import Provider as _FakerPerson

REGION = "340603"  # 相山区, 淮北市

# --- identifier arithmetic (GB 11643, GB 32100, GB 11714) -------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    # GB 11714: letters count as 10..35, like base-36 digits.
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_WEIGHTS))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def id_is_valid(number: str) -> bool:
    """Checksum and birth date of an 18-character ID (incl. 81/82/83/9 permits)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return birth >= date(1900, 1, 1) and number[17] == id_check_char(number[:17])


def uscc_is_valid(number: str) -> bool:
    return (
        len(number) == 18
        and all(c in _USCC_VALUE for c in number)
        and number[17] == uscc_check_char(number[:17])
    )


def id_to_15(number18: str) -> str:
    """The legacy 15-digit form: no century, no check character."""
    return number18[:6] + number18[8:17]


# --- population -------------------------------------------------------------

# (area code, weight). 淮北's districts dominate; the rest are Anhui people who
# moved here. Codes in use since before 1998, so every birth year is plausible.
_AREAS = (
    ("340603", 40), ("340602", 11), ("340604", 11), ("340621", 20),
    ("340104", 3), ("340111", 2), ("340321", 3), ("340403", 2),
    ("341302", 4), ("341321", 2), ("341202", 1), ("341221", 1),
)
_HMT_AREAS = ("810000", "820000", "830000")  # 港澳台居民居住证
_FOREIGN_NATIONALITIES = ("410", "840", "392", "704")  # 外国人永久居留身份证

_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "慕容", "夏侯", "公孙")
_MIDDOT_NAMES = (
    "买买提·艾力", "阿不都·热合曼", "艾尼瓦尔·吐尔逊", "古丽米热·阿不都",
    "热依拉·买买提", "努尔艾力·吾斯曼", "迪丽努尔·阿木提", "阿依古丽·托合提",
)
_FOREIGN_NAMES = ("金敏俊", "朴智妍", "约翰·史密斯", "KIM MINJUN", "SATO YUKI", "NGUYEN VAN AN")

_STREETS = ("相南街道", "东街道", "西街道", "南黎街道", "南湖街道", "三堤口街道", "任圩街道", "曲阳街道", "相山街道")
_TRADES = (
    "商贸", "建筑工程", "物流", "餐饮管理", "科技", "煤业", "机械制造", "物业管理",
    "食品", "医药", "家政服务", "劳务派遣", "人力资源", "装饰工程", "汽车销售", "印务",
)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    cert_type: str  # cert_type code: "111" ID card or permit, "414" passport
    cert_no: str  # canonical form: 18 characters upper-case, or the passport number
    birth: date
    sex: str  # "1" male, "2" female
    mobile: str
    landline: str  # "" when the person gave none


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    uscc: str
    kind: str  # enterprise, individual (个体工商户), institution, organ, social, other
    phone: str
    owner: int  # index of the 个体工商户's owner in Population.persons, else -1


@dataclass(frozen=True, slots=True)
class ServiceItem:
    dept: str
    name: str
    impl_code: str  # 31 = subject USCC (18) + level (1) + basic code (12)
    case_type: str  # "1" 即办件, "2" 承诺件
    promise_days: int  # working days; 0 for 即办件
    fee: str  # yuan, "0.00" for free items
    applicant: str  # "person" or "unit"


@dataclass(frozen=True)
class Population:
    seed: int
    persons: tuple[Person, ...]
    units: tuple[Unit, ...]

    def pick_person(self, rng: random.Random) -> Person:
        # Skewed so that some people come back several times in a month.
        return self.persons[int(len(self.persons) * rng.random() ** 1.6)]

    def pick_unit(self, rng: random.Random) -> Unit:
        return self.units[int(len(self.units) * rng.random() ** 1.4)]


def _mobile(rng: random.Random) -> str:
    second = rng.choices("3578964", weights=(30, 25, 25, 8, 6, 4, 2))[0]
    return f"1{second}{rng.randrange(10**9):09d}"


def _landline(rng: random.Random) -> str:
    return f"0561-{rng.choice('3678')}{rng.randrange(10**7):07d}"


def _birth(rng: random.Random) -> date:
    # Working ages dominate a 人社 hall; 1940–2006 inclusive.
    year = min(2006, max(1940, int(rng.triangular(1940, 2007, 1985))))
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def _id_number(area: str, birth: date, sex: str, rng: random.Random) -> str:
    seq = rng.randrange(0, 100) * 10 + rng.randrange(0, 10, 2) + (1 if sex == "1" else 0)
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def _given_name(rng: random.Random, male: bool) -> str:
    pool = _FakerPerson.first_names_male if male else _FakerPerson.first_names_female
    if rng.random() < 0.72:  # two-character given names are the common case
        name = rng.choice(pool)
        return name if len(name) == 2 else name + rng.choice(pool)[0]
    return rng.choice(pool)[0]


_SURNAMES = tuple(_FakerPerson.last_names)
_SURNAME_CUM = tuple(accumulate(_FakerPerson.last_names.values()))
_AREA_CODES = tuple(a for a, _ in _AREAS)
_AREA_CUM = tuple(accumulate(w for _, w in _AREAS))


def _person_name(rng: random.Random, male: bool) -> str:
    r = rng.random()
    if r < 0.003:
        return rng.choice(_MIDDOT_NAMES)
    if r < 0.015:
        return rng.choice(_COMPOUND_SURNAMES) + _given_name(rng, male)
    return rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0] + _given_name(rng, male)


def _make_person(rng: random.Random) -> Person:
    sex = "1" if rng.random() < 0.5 else "2"
    birth = _birth(rng)
    name = _person_name(rng, sex == "1")
    r = rng.random()
    if r < 0.010:
        cert_type, cert_no = "111", _id_number(rng.choice(_HMT_AREAS), birth, sex, rng)
    elif r < 0.011:
        first17 = f"934{rng.choice(_FOREIGN_NATIONALITIES)}"[:6] + f"{birth:%Y%m%d}{rng.randrange(1000):03d}"
        cert_type, cert_no, name = "111", first17 + id_check_char(first17), rng.choice(_FOREIGN_NAMES)
    elif r < 0.013:
        cert_type, cert_no = "414", rng.choice("EGM") + f"{rng.randrange(10**8):08d}"
        name = rng.choice(_FOREIGN_NAMES)
    else:
        area = rng.choices(_AREA_CODES, cum_weights=_AREA_CUM)[0]
        cert_type, cert_no = "111", _id_number(area, birth, sex, rng)
    landline = _landline(rng) if rng.random() < 0.08 else ""
    return Person(name, cert_type, cert_no, birth, sex, _mobile(rng), landline)


def _org_code(rng: random.Random, new_style: bool) -> str:
    if new_style:  # codes issued since 2015 start with "MA"
        body = "MA" + "".join(rng.choice(USCC_ALPHABET) for _ in range(6))
    else:
        body = f"{rng.randrange(10**8):08d}"
    return body + org_code_check_char(body)


def _uscc(prefix: str, region: str, rng: random.Random, new_style: bool) -> str:
    first17 = prefix + region + _org_code(rng, new_style)
    return first17 + uscc_check_char(first17)


def _enterprise_name(rng: random.Random) -> str:
    brand = rng.choice(_FakerCompany.company_prefixes)
    trade = rng.choice(_TRADES)
    form = rng.random()
    if form < 0.45:
        return f"淮北{brand}{trade}有限公司"
    if form < 0.7:
        return f"淮北市相山区{brand}{trade}有限责任公司"
    if form < 0.85:
        return f"安徽{brand}{trade}股份有限公司"
    if form < 0.95:
        return f"{brand}（淮北）{trade}有限公司"
    return f"安徽{brand}{trade}有限公司相山分公司"


def _public_unit(kind: str, rng: random.Random) -> str:
    street = rng.choice(_STREETS)
    if kind == "institution":
        return rng.choice((
            f"相山区{street}社区卫生服务中心", f"淮北市相山区第{rng.randint(1, 12)}实验小学",
            f"相山区{street}便民服务中心", "淮北市相山区人民医院", "相山区融媒体中心",
            "相山区疾病预防控制中心", "淮北市相山区妇幼保健计划生育服务中心",
        ))
    if kind == "organ":
        return rng.choice((
            f"淮北市相山区{street}办事处", "淮北市相山区财政局", "淮北市相山区教育体育局",
            "淮北市相山区民政局", "中共淮北市相山区委组织部", "淮北市相山区住房和城乡建设局",
        ))
    if kind == "social":
        trade = rng.choice(_TRADES)
        return rng.choice((
            f"淮北市相山区{trade}商会", "淮北市相山区个体劳动者协会",
            f"淮北市相山区{rng.choice(_FakerCompany.company_prefixes)}职业培训学校",
            f"相山区{street}康养服务中心",
        ))
    return rng.choice((
        f"淮北市相山区{rng.choice(_FakerCompany.company_prefixes)}种植专业合作社",
        f"相山区渠沟镇{rng.choice('东西南北')}庄村股份经济合作社",
        f"淮北市相山区{street}居民委员会",
    ))


# (prefix, kind, weight, new-style org code share)
_UNIT_KINDS = (
    ("91", "enterprise", 600, 0.8), ("92", "individual", 250, 0.9), ("12", "institution", 45, 0.0),
    ("11", "organ", 15, 0.0), ("51", "social", 25, 0.5), ("52", "social", 30, 0.5),
    ("53", "social", 3, 0.5), ("93", "other", 12, 0.9), ("N1", "other", 8, 0.9),
    ("N2", "other", 4, 0.9), ("A1", "other", 2, 0.5), ("Y1", "other", 6, 0.5),
)
_UNIT_CUM = tuple(accumulate(k[2] for k in _UNIT_KINDS))


def _make_unit(rng: random.Random, persons: tuple[Person, ...]) -> Unit:
    prefix, kind, _, new_share = rng.choices(_UNIT_KINDS, cum_weights=_UNIT_CUM)[0]
    region = REGION if rng.random() < 0.8 else rng.choice(("340602", "340604", "340621", "340600"))
    uscc = _uscc(prefix, region, rng, rng.random() < new_share)
    owner = -1
    if kind == "individual":
        owner = rng.randrange(len(persons))
        name = persons[owner].name  # a 个体工商户 trades under its owner's name
        phone = persons[owner].mobile
    elif kind == "enterprise":
        name = _enterprise_name(rng)
        phone = _landline(rng) if rng.random() < 0.5 else _mobile(rng)
    else:
        name = _public_unit(kind, rng)
        phone = _landline(rng) if rng.random() < 0.8 else _mobile(rng)
    return Unit(name, uscc, kind, phone, owner)


@lru_cache(maxsize=4)
def build_population(seed: int = 7, persons: int = 50_000, units: int | None = None) -> Population:
    """The shared population; call with the same arguments in every simulator."""
    rng = random.Random(f"population:{seed}")
    people = tuple(_make_person(rng) for _ in range(persons))
    n_units = units if units is not None else max(50, persons // 15)
    return Population(seed, people, tuple(_make_unit(rng, people) for _ in range(n_units)))


# --- service items ----------------------------------------------------------

# 实施主体 per department: (name, USCC prefix, level digit). Their USCCs are
# seed-independent so that item codes stay stable between runs.
_SUBJECTS = {
    "hrss_bureau": ("淮北市相山区人力资源和社会保障局", "11", "4"),
    "hrss_insurance": ("淮北市相山区社会保险中心", "12", "4"),
    "hrss_city": ("淮北市人力资源和社会保障局", "11", "3"),
}

# (name, subject, 事项类型 code, 即办/承诺, promise days, fee, applicant)
_HRSS_ITEMS = (
    ("社会保障卡申领", "hrss_bureau", "20", "1", 0, "0.00", "person"),
    ("社会保障卡补换", "hrss_bureau", "20", "1", 0, "20.00", "person"),
    ("社会保障卡挂失", "hrss_bureau", "20", "1", 0, "0.00", "person"),
    ("失业保险金申领", "hrss_insurance", "05", "2", 5, "0.00", "person"),
    ("城乡居民养老保险参保登记", "hrss_insurance", "20", "1", 0, "0.00", "person"),
    ("城乡居民养老保险待遇申领", "hrss_insurance", "05", "2", 10, "0.00", "person"),
    ("城乡居民养老保险关系转移接续", "hrss_insurance", "20", "2", 15, "0.00", "person"),
    ("企业职工基本养老保险关系转移接续", "hrss_insurance", "20", "2", 15, "0.00", "person"),
    ("灵活就业人员参保登记", "hrss_insurance", "20", "1", 0, "0.00", "person"),
    ("个人权益记录查询打印", "hrss_insurance", "20", "1", 0, "0.00", "person"),
    ("丧葬补助金、抚恤金申领", "hrss_insurance", "05", "2", 10, "0.00", "person"),
    ("就业登记", "hrss_bureau", "20", "1", 0, "0.00", "person"),
    ("失业登记", "hrss_bureau", "20", "1", 0, "0.00", "person"),
    ("《就业创业证》申领", "hrss_bureau", "20", "2", 3, "0.00", "person"),
    ("就业困难人员认定", "hrss_bureau", "07", "2", 10, "0.00", "person"),
    ("创业担保贷款申请", "hrss_bureau", "20", "2", 15, "0.00", "person"),
    ("职业培训补贴申领", "hrss_bureau", "05", "2", 15, "0.00", "person"),
    ("职业资格证书核发", "hrss_city", "00", "2", 20, "0.00", "person"),
    ("职业技能等级认定", "hrss_city", "20", "2", 20, "150.00", "person"),
    ("工伤认定申请", "hrss_city", "07", "2", 20, "0.00", "person"),
    ("劳动人事争议仲裁申请", "hrss_bureau", "20", "2", 5, "0.00", "person"),
    ("单位参保登记", "hrss_insurance", "20", "1", 0, "0.00", "unit"),
    ("单位参保信息变更登记", "hrss_insurance", "20", "1", 0, "0.00", "unit"),
    ("职工参保登记", "hrss_insurance", "20", "1", 0, "0.00", "unit"),
    ("失业保险稳岗返还", "hrss_insurance", "05", "2", 15, "0.00", "unit"),
    ("劳动用工备案", "hrss_bureau", "20", "1", 0, "0.00", "unit"),
    ("企业招用就业困难人员社会保险补贴申领", "hrss_bureau", "05", "2", 15, "0.00", "unit"),
    ("高校毕业生就业见习补贴申领", "hrss_bureau", "05", "2", 10, "0.00", "unit"),
)


@lru_cache(maxsize=1)
def subject_usccs() -> dict[str, str]:
    rng = random.Random("silobridge:subjects")
    return {key: _uscc(prefix, REGION if level == "4" else "340600", rng, False)
            for key, (_, prefix, level) in _SUBJECTS.items()}


@lru_cache(maxsize=None)
def service_items(dept: str = "hrss") -> tuple[ServiceItem, ...]:
    if dept != "hrss":
        raise ValueError(f"no service items declared for department {dept!r}; add them to simulators/population.py")
    usccs = subject_usccs()
    items = []
    for n, (name, subject, type_code, case_type, days, fee, applicant) in enumerate(_HRSS_ITEMS):
        level = _SUBJECTS[subject][2]
        basic = f"{type_code}{n + 120:05d}{1 + n % 3:03d}00"
        items.append(ServiceItem(dept, name, usccs[subject] + level + basic, case_type, days, fee, applicant))
    return tuple(items)


class SimulatorArgumentError(ValueError):
    """An argument the simulator cannot work with; the message names the fix."""


def parse_month(month: str) -> tuple[int, int]:
    """(year, month) of `2026-10`."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        date(year, mon, 1)
    except ValueError:
        raise SimulatorArgumentError(f"month must look like 2026-10, got {month!r}") from None
    return year, mon
