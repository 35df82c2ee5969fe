with

metrics as (
    select
        customer_id,
        days_since_last_order,
        lifetime_orders,
        lifetime_net_revenue
    from {{ ref('int_customers__order_metrics') }}
),

segments as (
    select * from {{ ref('rfm_segment_map') }}
),

scored as (
    select
        customer_id,
        days_since_last_order,
        lifetime_orders,
        lifetime_net_revenue,
        least(5, 1 + cast(floor(5 * percent_rank() over (order by days_since_last_order desc)) as integer))
            as recency_score,
        least(5, 1 + cast(floor(5 * percent_rank() over (order by lifetime_orders)) as integer)) as frequency_score,
        least(5, 1 + cast(floor(5 * percent_rank() over (order by lifetime_net_revenue)) as integer))
            as monetary_score
    from metrics
),

final as (
    select
        scored.customer_id,
        cast(scored.recency_score as integer) as recency_score,
        cast(scored.frequency_score as integer) as frequency_score,
        cast(scored.monetary_score as integer) as monetary_score,
        {{ dbt.concat([
            dbt.cast('scored.recency_score', dbt.type_string()),
            dbt.cast('scored.frequency_score', dbt.type_string()),
            dbt.cast('scored.monetary_score', dbt.type_string())
        ]) }} as rfm_cell,
        segments.rfm_segment
    from scored
    left join segments
        on
            scored.recency_score = segments.recency_score
            and cast(round((scored.frequency_score + scored.monetary_score) / 2.0, 0) as integer)
            = segments.frequency_monetary_score
)

select * from final
