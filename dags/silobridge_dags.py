"""Every silobridge DAG: one `<source>_sync` per spec in sources/, and `quality_report` on their Assets.

Airflow's DagBag finds DAGs among this module's globals, so each one is bound
to a module-level name equal to its dag_id. `pipeline` comes from the
installed project (`pip install -e .`); this dags/ folder is on sys.path
while Airflow parses it, which is how `dag_factory` is found.
"""

from dag_factory import build_quality_report_dag, build_source_dag
from pipeline.specs import load_specs

_specs = list(load_specs().values())
for _dag in [*(build_source_dag(spec) for spec in _specs), build_quality_report_dag(_specs)]:
    globals()[_dag.dag_id] = _dag

del _specs, _dag
