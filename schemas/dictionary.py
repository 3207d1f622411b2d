"""Renders docs/data-dictionary.md from the declaration (`python -m schemas.dictionary`)."""

import sys
from pathlib import Path

from schemas.codes import CODE_SETS
from schemas.tables import TABLES

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "data-dictionary.md"


def render() -> str:
    lines = [
        "# Data dictionary",
        "",
        "Generated from `schemas/` by `python -m schemas.dictionary`; do not edit by hand.",
        "",
    ]
    for t in TABLES:
        lines += [f"## {t.name}", "", t.doc, "", f"Key: {', '.join(f'`{k}`' for k in t.key)}", ""]
        lines += ["| column | type | null | code set | personal data | meaning |", "| --- | --- | --- | --- | --- | --- |"]
        for c in t.columns:
            lines.append(
                f"| {c.name}{' (key)' if c.key else ''} | {c.type} | {'yes' if c.nullable else 'no'} "
                f"| {c.code_set or ''} | {c.pii or ''} | {c.doc.replace('|', '/')} |"
            )
        lines.append("")
    lines += ["## Code sets", ""]
    for name, codes in CODE_SETS.items():
        lines.append(f"- `{name}`: " + ", ".join(f"`{k}` {v}" for k, v in codes.items()))
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}", file=sys.stderr)
