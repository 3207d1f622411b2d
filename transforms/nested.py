"""Nested JSON in raw records: objects flattened into columns, lists unnested into rows.

Tax sends the applicant as an object and the evaluations as a list inside each
case; the unified transforms work on flat records, so these run first.
"""

import json

import pyarrow as pa


def _text(value) -> str | None:
    """A JSON scalar as the raw text the other sources send; nested values stay JSON."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _json(text: str | None):
    """The parsed value; text that is not JSON stays as it is (the unified transform reports the field)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def flatten_object(batch: pa.RecordBatch, column: str) -> pa.RecordBatch:
    """Adds `column.key` for every key of the JSON object in `column` (the object itself stays)."""
    if column not in batch.schema.names:
        return batch
    objects = [_json(v) for v in batch.column(column).to_pylist()]
    keys = list(dict.fromkeys(k for o in objects if isinstance(o, dict) for k in o))
    for key in keys:
        values = [_text(o.get(key)) if isinstance(o, dict) else None for o in objects]
        batch = batch.append_column(f"{column}.{key}", pa.array(values, pa.string()))
    return batch


def unnest_list(batch: pa.RecordBatch, column: str, *, parent_columns: list[str], id_column: str,
                id_parts: tuple[str, str]) -> pa.RecordBatch:
    """One row per element of the JSON list in `column`, with the parent's columns copied in.

    `id_column` is built as `<parent part>#<element part>` (tax: projectNo#assessNumber), since
    such elements have no id of their own. A list element that is not an object is a defect row.
    """
    parent_part, element_part = id_parts
    parents = batch.to_pydict()
    rows: list[dict] = []
    for i, raw in enumerate(parents.get(column) or [None] * batch.num_rows):
        elements = _json(raw) or []
        for element in elements if isinstance(elements, list) else [elements]:
            row = {c: parents[c][i] for c in parent_columns}
            row["_record_no"] = parents["_record_no"][i]
            if isinstance(element, dict):
                row.update({k: _text(v) for k, v in element.items()})
                row[id_column] = f"{parents[parent_part][i]}#{_text(element.get(element_part))}"
                row["_defect"], row["_raw"] = None, None
            else:
                row["_defect"], row["_raw"] = "not_an_object", json.dumps(element, ensure_ascii=False)
            rows.append(row)
    names = list(dict.fromkeys(k for r in rows for k in r)) or [*parent_columns, id_column, "_record_no"]
    arrays = [pa.array([r.get(n) for r in rows], pa.int64() if n == "_record_no" else pa.string()) for n in names]
    return pa.RecordBatch.from_arrays(arrays, names=names)
