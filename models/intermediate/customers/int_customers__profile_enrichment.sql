with

customers as (
    select distinct customer_id from {{ ref('int_identity__customer_map') }}
),

metrics as (
    select * from {{ ref('int_customers__order_metrics') }}
),

tiers as (
    select
        loyalty_tier,
        tier_rank,
        min_lifetime_net_revenue
    from {{ ref('loyalty_tiers') }}
),

rfm as (
    select * from {{ ref('int_customers__rfm') }}
),

categories as (
    select * from {{ ref('int_customers__category_affinity') }}
),

engagement as (
    select * from {{ ref('int_customers__engagement') }}
),

tiered as (
    select
        metrics.customer_id,
        tiers.loyalty_tier,
        row_number() over (partition by metrics.customer_id order by tiers.tier_rank desc) as tier_rank_desc
    from metrics
    inner join tiers
        on
            tiers.min_lifetime_net_revenue is not null
            and metrics.lifetime_net_revenue >= tiers.min_lifetime_net_revenue
),

final as (
    select
        customers.customer_id,
        cast(coalesce(metrics.lifetime_orders, 0) as integer) as lifetime_orders,
        cast(coalesce(metrics.lifetime_gross_revenue, 0) as decimal(18, 2)) as lifetime_gross_revenue,
        cast(coalesce(metrics.lifetime_refunded_amount, 0) as decimal(18, 2)) as lifetime_refunded_amount,
        cast(coalesce(metrics.lifetime_net_revenue, 0) as decimal(18, 2)) as lifetime_net_revenue,
        metrics.average_order_value,
        metrics.first_order_at,
        metrics.last_order_at,
        metrics.days_since_last_order,
        metrics.average_days_between_orders,
        metrics.next_order_expected_from,
        metrics.next_order_expected_to,
        metrics.predicted_clv,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        rfm.rfm_cell,
        categories.preferred_category,
        categories.recommended_category,
        engagement.last_seen_on_site_at,
        cast(coalesce(engagement.lifetime_sessions, 0) as integer) as lifetime_sessions,
        cast(coalesce(engagement.sessions_30d, 0) as integer) as sessions_30d,
        cast(coalesce(engagement.product_views_30d, 0) as integer) as product_views_30d,
        engagement.last_viewed_product_id,
        engagement.last_viewed_product_title,
        engagement.last_viewed_category,
        case when metrics.customer_id is null then 'prospects' else rfm.rfm_segment end as rfm_segment,
        coalesce(
            tiered.loyalty_tier,
            (
                select tiers.loyalty_tier from tiers
                where tiers.min_lifetime_net_revenue is null
            )
        ) as loyalty_tier
    from customers
    left join metrics on customers.customer_id = metrics.customer_id
    left join tiered on customers.customer_id = tiered.customer_id and tiered.tier_rank_desc = 1
    left join rfm on customers.customer_id = rfm.customer_id
    left join categories on customers.customer_id = categories.customer_id
    left join engagement on customers.customer_id = engagement.customer_id
)

select * from final
