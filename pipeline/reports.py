"""Rebuilding what auditors read: the HTML report and GX Data Docs (the quality_report DAG's task)."""

from pathlib import Path

from loaders.engine import make_engine
from loaders.schema import upgrade
from pipeline.config import Settings


def report_path(home: Path) -> Path:
    return home / "reports" / "silobridge-report.html"


def refresh(settings: Settings) -> dict[str, Path]:
    from quality.data_docs import build_data_docs
    from quality.report import write_report

    engine = make_engine(settings.store_url)
    upgrade(engine)
    try:
        paths = {"report": write_report(engine, report_path(settings.home))}
        paths["data_docs"] = build_data_docs(settings.store_url, settings.home)
    finally:
        engine.dispose()
    return paths
