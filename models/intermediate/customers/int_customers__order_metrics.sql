with

orders as (
    select
        customer_id,
        order_id,
        ordered_at,
        total_amount,
        refunded_amount,
        net_revenue,
        item_quantity
    from {{ ref('int_commerce__orders') }}
    where is_revenue_order and customer_id is not null
),

reference as (
    select reference_at from {{ ref('int_customers__reference_time') }}
),

aggregated as (
    select
        customer_id,
        count(*) as lifetime_orders,
        sum(total_amount) as lifetime_gross_revenue,
        sum(refunded_amount) as lifetime_refunded_amount,
        sum(net_revenue) as lifetime_net_revenue,
        sum(item_quantity) as lifetime_items,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    group by customer_id
),

with_rates as (
    select
        aggregated.*,
        reference.reference_at,
        aggregated.lifetime_net_revenue / aggregated.lifetime_orders as average_order_value,
        case
            when aggregated.lifetime_orders > 1 then
                {{ dbt.datediff('aggregated.first_order_at', 'aggregated.last_order_at', 'second') }}
                / 86400.0 / (aggregated.lifetime_orders - 1)
        end as average_days_between_orders,
        -- orders per day since the first order, never over less than 30 days (one order yesterday is not
        -- a rate of one a day)
        {%- set tenure_seconds = dbt.datediff('aggregated.first_order_at', 'reference.reference_at', 'second') %}
        aggregated.lifetime_orders / greatest({{ tenure_seconds }} / 86400.0, 30.0) as orders_per_day,  -- noqa: LT05
        {{ dbt.datediff('aggregated.last_order_at', 'reference.reference_at', 'day') }} as days_since_last_order  -- noqa: LT05
    from aggregated
    cross join reference
),

with_windows as (
    select
        *,
        cast(average_days_between_orders * (1 - {{ var('next_order_window_spread') }}) * 86400 as bigint)
            as early_gap_seconds,
        cast(average_days_between_orders * (1 + {{ var('next_order_window_spread') }}) * 86400 as bigint)
            as late_gap_seconds
    from with_rates
),

final as (
    select
        customer_id,
        cast(lifetime_orders as integer) as lifetime_orders,
        cast(round(lifetime_gross_revenue, 2) as decimal(18, 2)) as lifetime_gross_revenue,
        cast(round(lifetime_refunded_amount, 2) as decimal(18, 2)) as lifetime_refunded_amount,
        cast(round(lifetime_net_revenue, 2) as decimal(18, 2)) as lifetime_net_revenue,
        cast(lifetime_items as integer) as lifetime_items,
        cast(round(average_order_value, 2) as decimal(18, 2)) as average_order_value,
        first_order_at,
        last_order_at,
        cast(days_since_last_order as integer) as days_since_last_order,
        cast(round(average_days_between_orders, 1) as decimal(10, 1)) as average_days_between_orders,
        cast({{ dbt.dateadd('second', 'early_gap_seconds', 'last_order_at') }} as date) as next_order_expected_from,
        cast({{ dbt.dateadd('second', 'late_gap_seconds', 'last_order_at') }} as date) as next_order_expected_to,
        cast(round(
            lifetime_net_revenue
            + average_order_value * orders_per_day * 365.25 * {{ var('clv_horizon_months') }} / 12.0,
            2
        ) as decimal(18, 2)) as predicted_clv
    from with_windows
)

select * from final
