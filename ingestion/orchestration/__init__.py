"""Scheduling and watching the pipeline: `customer360 run`, the Airflow DAG, alerts, quality history, report.

`customer360 run` (runner.py) and the Airflow DAG (dag.py) call the same steps (steps.py), so both
retry loads the same way, gate on the same checks and publish the same way.
"""
