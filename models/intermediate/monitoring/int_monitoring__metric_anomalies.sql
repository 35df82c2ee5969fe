{%- set min_absolute = var('anomaly_min_absolute_change') -%}

with

metrics as (
    select * from {{ ref('stg_monitoring__run_metrics') }}
),

history as (
    select
        current_run.run_metric_id,
        previous_run.metric_value as previous_value,
        previous_run.run_weekday = current_run.run_weekday as is_same_weekday,
        row_number() over (
            partition by current_run.run_metric_id order by previous_run.run_started_at desc
        ) as recency
    from metrics as current_run
    inner join metrics as previous_run
        on
            current_run.metric_name = previous_run.metric_name
            and current_run.dimension = previous_run.dimension
            and current_run.run_started_at > previous_run.run_started_at
            and {{ dbt.dateadd('day', -1 * var('anomaly_window_days'), 'current_run.run_started_at') }}
            <= previous_run.run_started_at
    where previous_run.metric_value is not null
),

windowed as (
    select * from history
    where recency <= {{ var('anomaly_window_runs') }}
),

weekday_counts as (
    select
        run_metric_id,
        count(*) as history_runs,
        sum(case when is_same_weekday then 1 else 0 end) as same_weekday_runs
    from windowed
    group by run_metric_id
),

baseline_inputs as (
    select
        windowed.run_metric_id,
        windowed.previous_value,
        weekday_counts.history_runs,
        weekday_counts.same_weekday_runs >= {{ var('anomaly_min_same_weekday_runs') }} as is_weekday_baseline
    from windowed
    inner join weekday_counts on windowed.run_metric_id = weekday_counts.run_metric_id
    where
        windowed.is_same_weekday
        or weekday_counts.same_weekday_runs < {{ var('anomaly_min_same_weekday_runs') }}
),

medians as (
    select
        run_metric_id,
        percentile_cont(0.5) within group (order by previous_value) as baseline_median,
        count(*) as baseline_runs,
        max(history_runs) as history_runs,
        {{ dbt.bool_or('is_weekday_baseline') }} as is_weekday_baseline
    from baseline_inputs
    group by run_metric_id
),

deviations as (
    select
        baseline_inputs.run_metric_id,
        abs(baseline_inputs.previous_value - medians.baseline_median) as absolute_deviation
    from baseline_inputs
    inner join medians on baseline_inputs.run_metric_id = medians.run_metric_id
),

mads as (
    select
        run_metric_id,
        percentile_cont(0.5) within group (order by absolute_deviation) as baseline_mad
    from deviations
    group by run_metric_id
),

scored as (
    select
        metrics.run_metric_id,
        metrics.run_id,
        metrics.run_started_at,
        metrics.metric_name,
        metrics.dimension,
        metrics.metric_value,
        medians.baseline_median,
        mads.baseline_mad,
        coalesce(medians.baseline_runs, 0) as baseline_runs,
        coalesce(medians.history_runs, 0) as history_runs,
        coalesce(medians.is_weekday_baseline, false) as is_weekday_baseline,
        greatest(
            {{ var('anomaly_mad_multiplier') }} * 1.4826 * mads.baseline_mad,
            {{ var('anomaly_min_relative_change') }} * abs(medians.baseline_median),
            case metrics.metric_name
                {%- for metric, change in min_absolute.items() if metric != 'default' %}
                    when '{{ metric }}' then {{ change }}
                {%- endfor %}
                else {{ min_absolute['default'] }}
            end
        ) as tolerance
    from metrics
    left join medians on metrics.run_metric_id = medians.run_metric_id
    left join mads on metrics.run_metric_id = mads.run_metric_id
),

final as (
    select
        run_metric_id,
        run_id,
        run_started_at,
        metric_name,
        dimension,
        metric_value,
        baseline_median,
        baseline_mad,
        baseline_runs,
        history_runs,
        is_weekday_baseline,
        tolerance,
        coalesce(
            history_runs >= {{ var('anomaly_min_history_runs') }}
            and metric_value is not null
            and abs(metric_value - baseline_median) > tolerance,
            false
        ) as is_anomaly,
        case
            when metric_value < baseline_median then 'drop'
            when metric_value > baseline_median then 'spike'
        end as direction,
        run_started_at = max(run_started_at) over () as is_latest_run
    from scored
)

select * from final
