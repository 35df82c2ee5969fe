{%- set run_metrics = source('monitoring', 'run_metrics') -%}
{%- set exists = execute and load_relation(run_metrics) is not none %}

with

{% if exists %}
    source as (
        select * from {{ run_metrics }}
    ),
{% else %}
    -- before the runner's first run (a demo, a plain build): empty with the same columns
    source as (
        select
            cast(null as {{ dbt.type_string() }}) as run_id,
            cast(null as {{ dbt.type_timestamp() }}) as run_started_at,
            cast(null as {{ dbt.type_string() }}) as metric_name,
            cast(null as {{ dbt.type_string() }}) as dimension,
            cast(null as double precision) as metric_value,
            cast(null as {{ dbt.type_timestamp() }}) as recorded_at
        where 1 = 0
    ),
{% endif %}

final as (
    select
        {{ customer360.surrogate_key(['run_id', 'metric_name', 'dimension']) }} as run_metric_id,
        run_id,
        cast(run_started_at as {{ dbt.type_timestamp() }}) as run_started_at,
        cast(extract(isodow from run_started_at) as {{ dbt.type_int() }}) as run_weekday,
        metric_name,
        dimension,
        metric_value,
        cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at
    from source
)

select * from final
