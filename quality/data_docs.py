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
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from quality.expectations import ERROR, describe, expectations_for, gx_form
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
    return site_dir(home) / "index.html"


def site_dir(home: Path) -> Path:
    return Path(home) / "quality" / "data_docs"


def _context(home: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx

        root = Path(home) / "quality"
        root.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(root))  # the context lives in root/gx
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
        for stream, table in STREAM_TABLES.items():
            suite = gx.ExpectationSuite(name=_suite_name(stream), expectations=expectations_for(table, stream),
                                        meta={"source": "derived from schemas/tables.py by quality.expectations"})
            context.suites.add_or_update(suite)
    return context


def _suite_name(stream: str) -> str:
    return f"silobridge_{stream}"


def validation_result(source: str, stream: str, rows: list[dict]):
    """A GX ExpectationSuiteValidationResult made from one run's dq_result rows."""
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    rules = {(kind, kwargs): exp.configuration.description
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
        success=passed == len(results), results=results, suite_name=_suite_name(stream),
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
