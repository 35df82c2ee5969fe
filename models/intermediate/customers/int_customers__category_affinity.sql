with

reference as (
    select {{ dbt.dateadd('day', -1 * var('engagement_window_days'), 'reference_at') }} as window_start
    from {{ ref('int_customers__reference_time') }}
),

purchases as (
    select
        customer_id,
        category,
        sum(net_amount) as net_amount,
        sum(quantity) as quantity
    from {{ ref('int_commerce__order_items') }}
    where is_revenue_order and customer_id is not null and category is not null
    group by customer_id, category
),

events as (
    select
        customer_id,
        product_category,
        event_name,
        event_at
    from {{ ref('int_engagement__events') }}
    where
        customer_id is not null
        and product_category is not null
        and event_name in ('Product Viewed', 'Product Added')
),

customers as (
    select distinct customer_id from {{ ref('int_identity__customer_map') }}
),

preferred as (
    select
        customer_id,
        category as preferred_category,
        row_number()
            over (partition by customer_id order by net_amount desc, quantity desc, category asc)
            as preference_rank
    from purchases
),

interest as (
    select
        events.customer_id,
        events.product_category as category,
        sum(case events.event_name when 'Product Added' then 3 when 'Product Viewed' then 1 else 0 end) as score
    from events
    cross join reference
    where events.event_at >= reference.window_start
    group by events.customer_id, events.product_category
),

co_purchase as (
    -- customers who bought category a also bought category b: number of such customers
    select
        bought_a.category as category_a,
        bought_b.category as category_b,
        count(*) as buyers
    from purchases as bought_a
    inner join purchases as bought_b
        on bought_a.customer_id = bought_b.customer_id and bought_a.category <> bought_b.category
    group by bought_a.category, bought_b.category
),

best_sellers as (
    select
        category,
        count(*) as buyers,
        row_number() over (order by count(*) desc, category) as popularity_rank
    from purchases
    group by category
),

candidates as (
    select
        interest.customer_id,
        interest.category,
        1 as priority,
        interest.score
    from interest
    union all
    select
        preferred.customer_id,
        co_purchase.category_b as category,
        2 as priority,
        co_purchase.buyers as score
    from preferred
    inner join co_purchase on preferred.preferred_category = co_purchase.category_a
    where preferred.preference_rank = 1
    union all
    select
        customers.customer_id,
        best_sellers.category,
        3 as priority,
        best_sellers.buyers as score
    from customers
    cross join best_sellers
    where best_sellers.popularity_rank <= 3
),

recommendations as (
    select
        candidates.customer_id,
        candidates.category,
        row_number() over (
            partition by candidates.customer_id
            order by candidates.priority asc, candidates.score desc, candidates.category asc
        ) as recommendation_rank
    from candidates
    left join purchases
        on candidates.customer_id = purchases.customer_id and candidates.category = purchases.category
    where purchases.customer_id is null
),

final as (
    select
        customers.customer_id,
        preferred.preferred_category,
        coalesce(recommendations.category, preferred.preferred_category) as recommended_category
    from customers
    left join preferred on customers.customer_id = preferred.customer_id and preferred.preference_rank = 1
    left join recommendations
        on customers.customer_id = recommendations.customer_id and recommendations.recommendation_rank = 1
)

select * from final
