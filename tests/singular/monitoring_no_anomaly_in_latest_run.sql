{#
    Warns (never fails the build) for every figure of the latest run that is far from its robust
    baseline (int_monitoring__metric_anomalies): a source that went quiet, a load that shrank, a
    quarantine rule firing three times as often. `customer360 run` turns each warned row into an alert.
#}
{{ config(severity='warn', tags=['monitoring']) }}

select
    run_id,
    metric_name,
    dimension,
    metric_value,
    baseline_median,
    tolerance,
    direction
from {{ ref('int_monitoring__metric_anomalies') }}
where is_latest_run and is_anomaly
