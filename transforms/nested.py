"""Nested JSON in raw records: objects flattened into columns, lists unnested into rows.

Tax sends the applicant as an object and the evaluations as a list inside each
case; the unified transforms work on flat records, so these run first. The
extractor passes such fields on as JSON text whatever their JSON type (a string
arrives quoted), so a string that merely holds JSON is not mistaken for an object.
A record whose nested field has the wrong JSON type (an applicant that is a
number, evaluations that are an object) cannot be read as the contract means it
and is quarantined whole (`quarantine_wrong_shapes`). An object that is null or
absent means none (the contracts' null rule); a list cannot be: tax's list of
evaluations is complete every time, and what is absent from it is marked
deleted, so a null list would delete what it failed to send. An element of a
nested list that is not an object becomes a defect row of its own.
"""

import json

import pyarrow as pa

from transforms.records import RecordReject
from transforms.values import clean_text

_NAMES = {dict: "object", list: "list"}
_REASONS = {dict: "not_an_object", list: "not_a_list"}


class _Number(str):
    """A JSON number kept as the text the source sent: 35.00 stays 35.00."""


def _parse(text: str | None):
    """The JSON value of a nested field (None for null); text that is not JSON is taken as a string."""
    if text is None:
        return None
    try:
        return json.loads(text, parse_int=_Number, parse_float=_Number)
    except (ValueError, RecursionError):
        return text


def _text(value) -> str | None:
    """A JSON value as the raw text the other sources send; nested values stay JSON."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return _dumps(value)
    return str(value)


def _dumps(value) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _kind(value) -> str:
    if value is None:
        return "absent or JSON null"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, _Number):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    return f"a JSON {_NAMES[type(value)]}"


def quarantine_wrong_shapes(batch: pa.RecordBatch, shapes: dict[str, type], *, source: str, location: str,
                            key_column: str) -> tuple[pa.RecordBatch, list[RecordReject]]:
    """The rows whose nested fields have their JSON type (`shapes`: column → dict or list), and rejects for the rest.

    An object may be null or absent; a list may not.

    A rejected record keeps its key and is kept whole (encrypted by the caller),
    as a defect: a replay would not run these steps, so it is not replayable.
    """
    n = batch.num_rows
    columns = batch.to_pydict()
    defects = columns.get("_defect") or [None] * n
    keys = columns.get(key_column) or [None] * n
    keep, rejects = [], []
    for i in range(n):
        wrong = None
        if not defects[i]:
            for column, expected in shapes.items():
                value = _parse(columns[column][i]) if column in columns else None
                if not isinstance(value, expected) and (value is not None or expected is list):
                    wrong = column, expected, value
                    break
        keep.append(wrong is None)
        if wrong is None:
            continue
        column, expected, value = wrong
        key = clean_text(keys[i])
        record_no = columns["_record_no"][i]
        where = f"{location} record {record_no}"
        record = {c: v[i] for c, v in columns.items() if not c.startswith("_")}
        rejects.append(RecordReject(
            where, key, _REASONS[expected],
            f"{source} {where} ({key or 'no key'}): {column} is {_kind(value)}, not a JSON {_NAMES[expected]}",
            json.dumps({"fields": record}, ensure_ascii=False), record_no))
    return batch.filter(pa.array(keep, pa.bool_())), rejects


def flatten_object(batch: pa.RecordBatch, column: str) -> pa.RecordBatch:
    """Adds `column.key` for every key of the JSON object in `column` (the object itself stays)."""
    if column not in batch.schema.names:
        return batch
    objects = [_parse(v) for v in batch.column(column).to_pylist()]
    keys = list(dict.fromkeys(k for o in objects if isinstance(o, dict) for k in o))
    for key in keys:
        values = [_text(o.get(key)) if isinstance(o, dict) else None for o in objects]
        batch = batch.append_column(f"{column}.{key}", pa.array(values, pa.string()))
    return batch


def unnest_list(batch: pa.RecordBatch, column: str, *, parent_columns: list[str], id_column: str,
                id_parts: tuple[str, str]) -> pa.RecordBatch:
    """One row per element of the JSON list in `column`, with the parent's columns copied in.

    `id_column` is built as `<parent part>#<element part>` (tax: projectNo#assessNumber), since
    such elements have no id of their own; NULL when either part is absent or blank. A list
    element that is not an object is a defect row.
    A parent that is itself a defect, or whose `column` is null or not a list, has no rows here
    (a wrong type quarantines the parent: see quarantine_wrong_shapes).
    """
    n = batch.num_rows
    parent_part, element_part = id_parts
    parents = batch.to_pydict()
    missing = [None] * n
    defects = parents.get("_defect") or missing
    rows: list[dict] = []
    for i, raw in enumerate(parents.get(column) or missing):
        elements = None if defects[i] else _parse(raw)
        if not isinstance(elements, list):
            continue
        for element in elements:
            row = {c: parents.get(c, missing)[i] for c in parent_columns}
            row["_record_no"] = parents["_record_no"][i]
            if isinstance(element, dict):
                row.update({k: _text(v) for k, v in element.items()})
                parts = (clean_text(parents.get(parent_part, missing)[i]),
                         clean_text(_text(element.get(element_part))))
                # Without either part there is no id: left empty, the record is quarantined as missing its key.
                row[id_column] = "#".join(parts) if all(parts) else None
                row["_defect"], row["_raw"] = None, None
            else:
                row["_defect"], row["_raw"] = "not_an_object", _dumps(element)
            rows.append(row)
    names = list(dict.fromkeys(k for r in rows for k in r)) or [*parent_columns, id_column, "_record_no"]
    arrays = [pa.array([r.get(name) for r in rows], pa.int64() if name == "_record_no" else pa.string())
              for name in names]
    return pa.RecordBatch.from_arrays(arrays, names=names)
