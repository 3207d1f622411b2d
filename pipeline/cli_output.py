"""How the command line shows what it read: tables for people (times in Beijing time, the zone named), or JSON
for programs (`--json`: ISO 8601 times with their offset)."""

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from transforms.values import BEIJING

# Piped output (make demo, CI logs) gets room for whole tables instead of 80 columns.
console = Console() if Console().is_terminal else Console(width=160)
err = Console(stderr=True)


def beijing(moment: datetime) -> str:
    """A time as people read it here: Beijing time, with the zone named."""
    return f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M:%S} +08:00"


def _shown(value) -> str:
    if value is None:
        return ""
    return beijing(value) if isinstance(value, datetime) else str(value)


def table(title: str, rows: list[dict]) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    shown = Table(title=title, title_justify="left")
    for column in rows[0]:
        shown.add_column(column, overflow="fold")
    for row in rows:
        shown.add_row(*(_shown(v) for v in row.values()))
    console.print(shown)


def _plain(value):
    """JSON for what the store and the reports hold: times with their offset, exact numbers, dataclasses as objects."""
    if isinstance(value, datetime):
        return value.astimezone(BEIJING).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def print_json(data) -> None:
    # print(), not rich: a program reading it wants the text exactly, without wrapping or markup.
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))
