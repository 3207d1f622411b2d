"""`@load_task`: the `load` task of the `<source>_sync` DAGs, whose OpenLineage events name what the run read and wrote.

The Airflow OpenLineage provider finds an operator's lineage, in this order, through an extractor
registered for its class name, the operator's OpenLineage methods
(`get_openlineage_facets_on_start/_on_complete/_on_failure`), hook lineage, and last its inlets and
outlets. A plain `@task` has none of the first two: its operator class (`_PythonDecoratedOperator`)
is not the `PythonOperator` the provider's own extractor is registered for, and it has no such
methods. So `load_task` is `@task` with an operator that has them, the mechanism the provider's
guide recommends for one's own operators. They build the datasets with `pipeline.lineage`.

The methods run in the provider's listener, around the task's own code, in a thread of the task
process (airflow.cfg sets `[openlineage] execute_in_thread`; the provider's default is a fork), where
a failure only costs the lineage (the provider logs a warning), never the task. So each resolves the
settings itself, and `execute` keeps the run's summary (the task's return value) for `_on_complete`,
as the provider's guide advises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# The operator behind `@task` (apache-airflow-providers-standard); subclassed so the load behaves
# exactly as `@task` does, plus the OpenLineage methods.
from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk.bases.decorator import task_decorator_factory

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from pipeline.config import Settings
    from pipeline.specs import SourceSpec

LineageOf = Callable[[], "tuple[SourceSpec, Settings]"]


class LoadOperator(_PythonDecoratedOperator):
    """A `@task` load that reports its source system (inputs) and unified tables (outputs) to OpenLineage."""

    def __init__(self, *, lineage_of: LineageOf, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lineage_of = lineage_of
        self.summary: dict | None = None

    def execute(self, context) -> Any:
        self.summary = super().execute(context)
        return self.summary

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return self._lineage(None)

    def get_openlineage_facets_on_complete(self, task_instance) -> OperatorLineage:
        return self._lineage(self.summary)

    def get_openlineage_facets_on_failure(self, task_instance) -> OperatorLineage:
        # A failed run committed only its failed ledger rows: nothing to count.
        return self._lineage(None)

    def _lineage(self, summary: dict | None) -> OperatorLineage:
        from airflow.providers.openlineage.extractors import OperatorLineage

        from pipeline.lineage import input_datasets, output_datasets, run_checks
        from pipeline.runner import StreamResult

        spec, settings = self.lineage_of()
        if summary is None:
            return OperatorLineage(inputs=input_datasets(spec, settings), outputs=output_datasets(spec, settings))
        run_id = summary["run_id"]
        streams = {name: StreamResult(**counts) for name, counts in summary["streams"].items()}
        return OperatorLineage(
            inputs=input_datasets(spec, settings),
            outputs=output_datasets(spec, settings, run_id, streams, run_checks(settings.store_url, run_id)),
        )


def load_task(*, lineage_of: LineageOf, **kwargs):
    """`@task(**kwargs)` for a load; `lineage_of()` gives the run's source spec and settings (called in the
    OpenLineage listener, at the task's start and end)."""
    return task_decorator_factory(decorated_operator_class=LoadOperator, lineage_of=lineage_of, **kwargs)
