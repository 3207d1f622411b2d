"""The unified code sets of unified-store.md, declared once.

Every source's local codes are mapped onto these values; the loader, the
quality layer and the data dictionary all read them from here, and the store's
`code_value` table is filled from `code_values()`.
"""

CODE_SETS: dict[str, dict[str, str]] = {
    "case_type": {"1": "即办件", "2": "承诺件", "9": "其他"},
    "applicant_type": {
        "1": "自然人",
        "2": "企业法人",
        "3": "事业法人",
        "4": "社会组织法人",
        "5": "行政机关",
        "6": "其他组织",
        "7": "个体工商户/非法人企业",
    },
    "cert_type": {
        "111": "居民身份证",
        "414": "普通护照",
        "516": "港澳居民来往内地通行证",
        "511": "台湾居民来往大陆通行证",
        "001": "统一社会信用代码",
        "099": "其他法人证件",
        "999": "其他自然人证件",
    },
    "channel": {
        "1": "窗口办理",
        "2": "电脑端网上办理",
        "3": "移动端网上申请 (皖事通)",
        "4": "快递申请",
        "5": "自助终端",
        "6": "电话",
        "9": "其他",
    },
    "case_status": {
        "submitted": "已申报/待受理",
        "accepted": "已受理",
        "in_progress": "办理中",
        "supplement": "补齐补正",
        "suspended": "特别程序挂起",
        "completed": "已办结",
        "not_accepted": "不予受理",
        "returned": "退回/撤回",
        "voided": "作废",
    },
    "eval_channel": {
        "1": "PC端",
        "2": "移动端",
        "3": "二维码",
        "4": "政务大厅评价器/平板",
        "5": "政务大厅其他终端 (自助终端)",
        "6": "电话",
        "7": "短信",
    },
    "score": {
        "1": "非常不满意",
        "2": "不满意",
        "3": "基本满意",
        "4": "满意",
        "5": "非常满意",
    },
}

# English names of the same codes (data dictionary, `code_value.name_en`).
CODE_NAMES_EN: dict[str, dict[str, str]] = {
    "case_type": {"1": "immediate case", "2": "case with a promised time limit", "9": "other"},
    "applicant_type": {
        "1": "natural person",
        "2": "enterprise legal person",
        "3": "public institution legal person",
        "4": "social organisation legal person",
        "5": "government body",
        "6": "other organisation",
        "7": "individual business / unincorporated enterprise",
    },
    "cert_type": {
        "111": "resident identity card",
        "414": "ordinary passport",
        "516": "Mainland travel permit for Hong Kong and Macao residents",
        "511": "Mainland travel permit for Taiwan residents",
        "001": "unified social credit code",
        "099": "other organisation certificate",
        "999": "other personal certificate",
    },
    "channel": {
        "1": "service counter",
        "2": "online on a computer",
        "3": "online on a mobile app (Wanshitong)",
        "4": "by post or courier",
        "5": "self-service terminal",
        "6": "telephone",
        "9": "other",
    },
    "case_status": {
        "submitted": "submitted, awaiting acceptance",
        "accepted": "accepted",
        "in_progress": "in progress",
        "supplement": "awaiting supplementary documents",
        "suspended": "suspended for a special procedure",
        "completed": "completed",
        "not_accepted": "not accepted",
        "returned": "returned or withdrawn",
        "voided": "voided",
    },
    "eval_channel": {
        "1": "PC",
        "2": "mobile",
        "3": "QR code",
        "4": "service hall rating device or tablet",
        "5": "other service hall terminal (self-service)",
        "6": "telephone",
        "7": "text message",
    },
    "score": {
        "1": "very dissatisfied",
        "2": "dissatisfied",
        "3": "fairly satisfied",
        "4": "satisfied",
        "5": "very satisfied",
    },
}

# The departments behind `source_system` (a code set of `code_value`, not checked by expectations:
# a source spec names its own source): code → (Chinese, English).
SOURCE_SYSTEMS: dict[str, tuple[str, str]] = {
    "market": ("市场监管", "market regulation"),
    "medins": ("医保", "medical insurance"),
    "hrss": ("人社", "human resources and social security"),
    "police": ("公安", "public security"),
    "tax": ("税务", "tax"),
}


def code_values() -> list[tuple[str, str, str, str]]:
    """Every (code_set, code, Chinese name, English name): the rows of the store's `code_value` table."""
    rows = [(name, code, zh, CODE_NAMES_EN[name][code]) for name, codes in CODE_SETS.items()
            for code, zh in codes.items()]
    rows += [("source_system", code, zh, en) for code, (zh, en) in SOURCE_SYSTEMS.items()]
    return rows


# Personal certificate types: a number of these types is masked and keyed as a
# person's; anything else belongs to an organisation.
PERSONAL_CERT_TYPES = frozenset({"111", "414", "516", "511", "999"})

# applicant_type values whose names are personal names (个体工商户 included).
PERSONAL_APPLICANT_TYPES = frozenset({1, 7})
