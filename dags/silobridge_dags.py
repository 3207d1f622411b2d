"""Every silobridge DAG, one per spec in sources/ (today: hrss_sync).

Airflow's DagBag finds DAGs among this module's globals, so each one is bound
to a module-level name equal to its dag_id. `pipeline` comes from the
installed project (`pip install -e .`); this dags/ folder is on sys.path
while Airflow parses it, which is how `dag_factory` is found.
"""

from dag_factory import build_source_dag
from pipeline.specs import load_specs

for _spec in load_specs().values():
    _dag = build_source_dag(_spec)
    globals()[_dag.dag_id] = _dag

del _spec, _dag
