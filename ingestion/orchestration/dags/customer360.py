"""Airflow's DAGs-folder entry for the customer360 DAG (ingestion/orchestration/dag.py).

Point ``AIRFLOW__CORE__DAGS_FOLDER`` at this folder, or copy this file into your own DAGs folder with
the project installed (`pip install -e ".[airflow]"`).
"""

from ingestion.orchestration.dag import build_dag

dag = build_dag()
