"""The unified code sets of unified-store.md, declared once.

Every source's local codes are mapped onto these values; the loader, the
quality layer and the data dictionary all read them from here.
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

# Personal certificate types: a number of these types is masked and keyed as a
# person's; anything else belongs to an organisation.
PERSONAL_CERT_TYPES = frozenset({"111", "414", "516", "511", "999"})

# applicant_type values whose names are personal names (个体工商户 included).
PERSONAL_APPLICANT_TYPES = frozenset({1, 7})
