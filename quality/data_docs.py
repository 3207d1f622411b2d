"""GX Data Docs of the data-quality results the store keeps (`dq_result`).

    build_data_docs(store_url, home) -> Path of index.html

The pipeline validates every unified batch with GX before the run commits and
keeps one aggregated row per run, stream and expectation in `dq_result`
(quality.expectations). This module renders them: for each source and stream,
the latest run's rows become a GX `ExpectationSuiteValidationResult`, stored in
a file-based GX context under `$SILOBRIDGE_HOME/quality/gx` and rendered into a
local Data Docs site under `$SILOBRIDGE_HOME/quality/data_docs`. The suites
derived from `schemas/` are saved there too, so the site documents them.

Nothing is re-validated: the docs show exactly what the loads recorded, and
building them costs the same for a store of ten rows or ten million. Results
stored by earlier builds stay in the context, so the site's index lists the
history of every build's latest runs. Observed values are the stored text
(counts, and sample values of non-personal columns only).

The site opens offline (`make_offline`): GX's pages load Bootstrap, jQuery,
bootstrap-table, Font Awesome and Vega from CDNs and a logo from GX's S3
bucket, none of which GX installs. Every page is rewritten after the build:
the remote stylesheets and all scripts go, links to GX's web site keep only
their text, the tables bootstrap-table would
have filled from inline data (the index) are written out as HTML, the logo is
GX's installed copy under static/, and a small inline stylesheet stands in for
the Bootstrap classes the pages use. What needed scripts (sorting, filters,
collapsing) is gone; every table and result is on the page.
"""

from __future__ import annotations

import ast
import html
import json
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from quality.expectations import ERROR, describe, expectations_for, gx_form
from quality.gx_suite import gx, gx_suite, suite_name
from schemas.sql import sql_tables
from schemas.tables import STREAM_TABLES

SITE = "silobridge"


def build_data_docs(store_url: str | None = None, home: Path | str | None = None, *,
                    engine: sa.Engine | None = None) -> Path:
    """Render the latest dq_result run of every source and stream as GX Data Docs; the site's index.html.

    `store_url` defaults to the configured store, `home` to $SILOBRIDGE_HOME; or pass an open `engine`.
    """
    from loaders.engine import make_engine
    from pipeline.config import connection_from_env, home as default_home, store_url_from_connection

    home = Path(home) if home else default_home()
    own_engine = engine is None
    if own_engine:
        if store_url is None:
            conn = connection_from_env("silobridge_store")
            store_url = store_url_from_connection(conn) if conn else f"sqlite:///{default_home() / 'silobridge.db'}"
        engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            runs = latest_runs(conn)
    finally:
        if own_engine:
            engine.dispose()
    return render(runs, home)


def latest_runs(conn: sa.Connection) -> dict[tuple[str, str], list[dict]]:
    """(source, stream) → the dq_result rows of its latest evaluated run."""
    dq = sql_tables["dq_result"]
    latest = (sa.select(dq.c.source, dq.c.stream, sa.func.max(dq.c.evaluated_at).label("at"))
              .group_by(dq.c.source, dq.c.stream).subquery())
    rows = conn.execute(
        sa.select(dq).join(latest, sa.and_(dq.c.source == latest.c.source, dq.c.stream == latest.c.stream,
                                           dq.c.evaluated_at == latest.c.at))
        .order_by(dq.c.source, dq.c.stream, dq.c.result_id)
    )
    out: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        out.setdefault((row.source, row.stream), []).append(dict(row._mapping))
    return out


def render(runs: dict[tuple[str, str], list[dict]], home: Path) -> Path:
    """Store each run's results in the file-based GX context under `home` and build the site."""
    context = _context(home)
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier, ValidationResultIdentifier,
    )

    for (source, stream), rows in sorted(runs.items()):
        result = validation_result(source, stream, rows)
        run_id = result.meta["run_id"]
        suite = ExpectationSuiteIdentifier(name=result.suite_name)
        key = ValidationResultIdentifier(suite, run_id, f"{source}.{stream}")
        context.validation_results_store.set(key, result)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context.build_data_docs(site_names=[SITE])
    make_offline(site_dir(home))
    return site_dir(home) / "index.html"


def site_dir(home: Path) -> Path:
    return Path(home) / "quality" / "data_docs"


def _context(home: Path):
    great_expectations, _, _ = gx()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = Path(home) / "quality"
        root.mkdir(parents=True, exist_ok=True)
        context = great_expectations.get_context(mode="file", project_root_dir=str(root))  # lives in root/gx
        site = {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "show_how_to_buttons": False},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir(home))},
        }
        sites = dict(context.variables.data_docs_sites or {})
        if sites.get(SITE) != site or set(sites) != {SITE}:
            # Only this site: GX's default local_site under gx/uncommitted is not built.
            context.variables.data_docs_sites = {SITE: site}
            context.variables.save()
        for stream in STREAM_TABLES:
            context.suites.add_or_update(gx_suite(stream))
    return context


def validation_result(source: str, stream: str, rows: list[dict]):
    """A GX ExpectationSuiteValidationResult made from one run's dq_result rows."""
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    rules = {(kind, kwargs): exp.rule
             for exp in expectations_for(STREAM_TABLES[stream], stream)
             for kind, _, kwargs, _, _ in [describe(exp)]}
    results = []
    for r in rows:
        kind, kwargs_text, finding = gx_form(r)  # a data-quality finding is shown in a GX type's form
        kwargs = json.loads(kwargs_text or "{}")
        rule = finding or rules.get((kind, kwargs_text)) or kind
        config = ExpectationConfiguration(
            type=kind, kwargs=kwargs, description=f"{r['severity']}: {rule}",
            meta={"severity": r["severity"], "column": r["column_name"], "observed": r["observed_value"]},
        )
        results.append(ExpectationValidationResult(
            success=bool(r["success"]), expectation_config=config, result=_result(r),
            exception_info=_exception(r),
        ))
    evaluated_at = _aware(rows[0]["evaluated_at"])
    run_id = RunIdentifier(run_name=rows[0]["run_id"], run_time=evaluated_at)
    passed = sum(1 for r in results if r.success)
    errors_failed = sum(1 for r in rows if not r["success"] and r["severity"] == ERROR)
    return ExpectationSuiteValidationResult(
        success=passed == len(results), results=results, suite_name=suite_name(stream),
        statistics={"evaluated_expectations": len(results), "successful_expectations": passed,
                    "unsuccessful_expectations": len(results) - passed,
                    "success_percent": 100.0 * passed / len(results) if results else None},
        meta={"run_id": run_id, "validation_time": evaluated_at.isoformat(),
              "batch_spec": {"data_asset_name": f"{source}.{stream}", "datasource": "silobridge store (dq_result)"},
              "silobridge": {"source": source, "stream": stream, "failed_errors": errors_failed,
                             "failed_warnings": len(results) - passed - errors_failed}},
    )


def _result(r: dict) -> dict:
    if r["unexpected_count"] is None:  # an aggregate expectation: the stored observed value
        return {"observed_value": r["observed_value"]}
    n, bad = r["element_count"] or 0, r["unexpected_count"]
    percent = 100.0 * bad / n if n else 0.0
    return {"element_count": n, "unexpected_count": bad, "unexpected_percent": percent,
            "unexpected_percent_total": percent, "unexpected_percent_nonmissing": percent,
            "missing_count": 0, "missing_percent": 0.0, "partial_unexpected_list": []}


def _exception(r: dict) -> dict:
    text = r["observed_value"] or ""
    if text.startswith("not evaluated"):
        return {"raised_exception": True, "exception_message": text, "exception_traceback": None}
    return {"raised_exception": False, "exception_message": None, "exception_traceback": None}


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# --- offline pages -------------------------------------------------------------------------------

_REMOTE_STYLESHEET = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>\s*", re.I)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.I | re.S)
_REMOTE_IMAGE = re.compile(r"<img\b([^>]*?)\bsrc=[\"']https?://[^\"']*?(logo[-\w]*\.png)[^\"']*[\"']", re.I)
_REMOTE_CSS_URL = re.compile(r"url\(\s*[\"']?https?://[^)]*\)", re.I)
_REMOTE_LINK = re.compile(r"<a\b[^>]*\bhref=[\"']https?://[^>]*>(.*?)</a>", re.I | re.S)
_TABLE_INIT = re.compile(r"\$\('#([\w-]+)'\)\.bootstrapTable\(")

# Stands in for the Bootstrap 4 classes GX's pages use, and for the Font Awesome icons they show.
OFFLINE_CSS = """
body { margin: 0; font: 14px/1.5 system-ui, "Noto Sans CJK SC", sans-serif; color: #212529; }
a { color: #2f6db5; } .container, .container-fluid { padding: 0 16px; } .container { max-width: 1320px; margin: auto; }
.row { display: flex; flex-wrap: wrap; } [class*="col-"] { box-sizing: border-box; padding: 0 8px; flex: 1 1 100%; }
@media (min-width: 768px) { .col-md-2 { flex: 0 0 16.66%; } .col-md-10 { flex: 0 0 83.33%; } }
.d-none, .modal, .collapse:not(.show), .ge-index-page-table-toolbar, .btn { display: none !important; }
@media (min-width: 576px) { .d-sm-block { display: block !important; } }
.navbar { display: flex; align-items: center; padding: 8px 16px; border-bottom: 1px solid #dee2e6; }
.navbar-brand img { height: 28px; } .nav { list-style: none; padding: 0; } .breadcrumb-item { display: inline; }
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 16px; }
.card-header { padding: 8px 12px; background: #f7f7f9; border-bottom: 1px solid #dee2e6; } .card-body { padding: 12px; }
.alert { padding: 8px 12px; border-radius: 4px; } .alert-secondary { background: #e2e3e5; }
table, .table { border-collapse: collapse; width: 100%; margin-bottom: 12px; }
.table th, .table td, table.offline th, table.offline td { border-top: 1px solid #dee2e6; padding: 4px 8px;
  vertical-align: top; text-align: left; }
.table-responsive { overflow-x: auto; } .text-success { color: #28a745; } .text-danger { color: #dc3545; }
.sticky, .sticky-top { position: static; }
.fas { font-style: normal; } .fa-check-circle::before { content: "\\2714"; } .fa-times::before { content: "\\2718"; }
.cooltip .top { display: none; } .cooltip:hover .top { display: block; position: absolute; }
"""


def make_offline(site: Path) -> None:
    """Rewrites every page of the built site so that it needs no network (see the module's docstring)."""
    site = Path(site)
    for sheet in site.rglob("*.css"):
        sheet.write_text(_REMOTE_CSS_URL.sub("none", sheet.read_text(encoding="utf-8")), encoding="utf-8")
    for page in site.rglob("*.html"):
        static = "/".join([".."] * (len(page.relative_to(site).parts) - 1) + ["static"])
        page.write_text(offline_page(page.read_text(encoding="utf-8"), static), encoding="utf-8")


def offline_page(text: str, static: str) -> str:
    """One page without remote resources or scripts; `static` is the relative path of the site's static/."""
    tables = dict(_table_data(text))
    text = _SCRIPT.sub("", text)
    text = _REMOTE_STYLESHEET.sub("", text)
    text = _REMOTE_IMAGE.sub(lambda m: f'<img{m[1]}src="{static}/images/{m[2]}"', text)
    text = _REMOTE_CSS_URL.sub("none", text)
    text = _REMOTE_LINK.sub(r"\1", text)  # GX's own site and newsletter: text only, nothing points outside
    for table_id, (columns, rows) in tables.items():
        text = re.sub(rf"(<table\b[^>]*\bid=\"{re.escape(table_id)}\"[^>]*>)\s*(</table>)",
                      lambda m: m[1] + _table_body(columns, rows) + m[2], text)
    return text.replace("</head>", f"<style>{OFFLINE_CSS}</style>\n</head>", 1)


def _table_data(text: str):
    """(table id, (columns, rows)) of every table a page fills with bootstrap-table from inline data."""
    for m in _TABLE_INIT.finditer(text):
        options = {}
        for key in ("columns", "data"):
            start = text.find(f"{key}: [", m.end())
            if start < 0:
                break
            options[key] = ast.literal_eval(_bracketed(text, start + len(key) + 2))
        if len(options) == 2:
            yield m[1], (options["columns"], options["data"])


def _bracketed(text: str, start: int) -> str:
    """The Python-literal list that opens at text[start] ("["), up to its matching "]"."""
    depth, quote, i = 0, None, start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
        i += 1
    raise ValueError("GX data docs: an inline table's data does not end")


def _table_body(columns: list[dict], rows: list[dict]) -> str:
    """Cells hold GX's own rendered HTML; a row that linked somewhere links from each cell."""
    head = "".join(f"<th>{html.escape(str(c.get('title', c['field'])))}</th>" for c in columns)
    body = []
    for row in rows:
        link = row.get("_table_row_link_path")
        cells = []
        for c in columns:
            cell = str(row.get(c["field"], ""))
            if link and "<a " not in cell:
                cell = f'<a href="{html.escape(link, quote=True)}">{cell}</a>'
            cells.append(f"<td>{cell}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
