"""The suites of `quality.expectations` as Great Expectations objects, for Data Docs (and to check the Arrow
figures against GX in the tests). Importing GX takes seconds: only the Data Docs build comes here, never a run."""

from __future__ import annotations

import logging
import warnings

from quality.expectations import ERROR, Expectation, expectations_for
from schemas.tables import STREAM_TABLES


def gx():
    """(great_expectations, great_expectations.expectations, FailureSeverity), GX's chatter kept out of logs."""
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:  # GX's INFO chatter is not for run logs, unless configured so
        gx_log.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations
        import great_expectations.expectations as gxe
        from great_expectations.expectations.metadata_types import FailureSeverity
    # GX sets this one to INFO itself (it announces a temporary docs directory per context).
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    return great_expectations, gxe, FailureSeverity


def gx_expectation(expectation: Expectation):
    """The GX expectation (class named after its type) with the same kwargs, rule, severity and meta."""
    _, gxe, FailureSeverity = gx()
    cls = getattr(gxe, "".join(word.capitalize() for word in expectation.type.split("_")))
    meta = {"severity": expectation.severity, "rule": expectation.rule, "pii": expectation.pii,
            **({"column": expectation.subject} if expectation.subject else {})}
    severity = FailureSeverity.CRITICAL if expectation.severity == ERROR else FailureSeverity.WARNING
    return cls(**expectation.kwargs, meta=meta, description=expectation.rule, severity=severity)


def suite_name(stream: str) -> str:
    return f"silobridge_{stream}"


def gx_suite(stream: str):
    """The stream's ExpectationSuite."""
    great_expectations, _, _ = gx()
    return great_expectations.ExpectationSuite(
        name=suite_name(stream),
        expectations=[gx_expectation(e) for e in expectations_for(STREAM_TABLES[stream], stream)],
        meta={"source": "derived from schemas/tables.py by quality.expectations"})
