"""Drops made by hand to the hrss contract, independent of the project's simulator."""

from pathlib import Path

BJ_HEADER = ["业务流水号", "办件编号", "实施编码", "事项名称", "申请人类型", "申请人名称", "证件号码", "联系电话",
             "业务来源", "申请日期", "受理日期", "办结日期", "办理状态", "承诺时限(天)", "收费金额(元)", "更新时间"]
PJ_HEADER = ["评价流水号", "办件编号", "评价分值", "评价渠道", "是否默认好评", "评价意见", "评价时间"]

# Valid by the GB 11643 / GB 32100 check characters.
PERSON_ID = "340603199003070022"
PERSON_ID_15 = "340603900307002"  # the same person's legacy 15-digit number
PERSON_ID_X = "34060319851120108X"
USCC = "91340600MA2NXCJ57P"
USCC_GETI = "92340603MA2P0ABC1G"  # a 个体工商户
USCC_N = "N2340603MA2P0ABC13"  # letter-prefixed (农业集体经济组织), valid


def _quote(field: str) -> str:
    if any(c in field for c in ',"\r\n'):
        return '"' + field.replace('"', '""') + '"'
    return field


def case_row(case_no: str, *, lsh: str | None = None, applicant_type: str = "2", name: str = "张三",
             cert: str = PERSON_ID, phone: str = "13812345678", source: str = "1",
             apply: str = "2026-10-05 09:00:00", accept: str = "", finish: str = "", status: str = "待受理",
             promise: str = "5", fee: str = "", updated: str = "2026-10-05 09:00:00") -> list[str]:
    return [lsh or f"LSH-{case_no}", case_no, "11340603MB1234567X1000123456789"[:31], "社会保障卡申领", applicant_type,
            name, cert, phone, source, apply, accept, finish, status, promise, fee, updated]


def eval_row(eval_no: str, case_no: str, *, score: str = "5", channel: str = "网厅", default: str = "N",
             comment: str = "", at: str = "2026-10-06 10:00:00") -> list[str]:
    return [eval_no, case_no, score, channel, default, comment, at]


def write_drop(folder: Path, name: str, rows: list[list[str]], *, header: list[str] | None = None,
               trailer: int | None | str = "auto", marker: bool = True, raw_rows: list[bytes] = ()) -> Path:
    """Writes a GB18030, CRLF file with its trailer and `.ok` marker, as the department does.

    `raw_rows` are appended as given (already-encoded lines, for bad bytes); `trailer=None` leaves it out.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if header is None:
        header = BJ_HEADER if "_BJ_" in name else PJ_HEADER
    body = b"".join(",".join(_quote(f) for f in row).encode("gb18030") + b"\r\n" for row in [header, *rows])
    body += b"".join(line + b"\r\n" for line in raw_rows)
    if trailer == "auto":
        trailer = len(rows) + len(raw_rows)
    if trailer is not None:
        body += f"合计,{trailer}\r\n".encode("gb18030")
    path = folder / name
    path.write_bytes(body)
    if marker:
        (folder / f"{name}.ok").write_bytes(b"")
    return path
