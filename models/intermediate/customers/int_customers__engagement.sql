with

reference as (
    select
        reference_at,
        {{ dbt.dateadd('day', -1 * var('engagement_window_days'), 'reference_at') }} as window_start
    from {{ ref('int_customers__reference_time') }}
),

events as (
    select
        customer_id,
        message_id,
        event_name,
        event_at,
        product_id,
        product_category
    from {{ ref('int_engagement__events') }}
    where customer_id is not null and anonymous_id is not null
),

web_sessions as (
    select
        customer_id,
        session_started_at
    from {{ ref('int_engagement__web_sessions') }}
    where customer_id is not null
),

products as (
    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        title,
        category
    from {{ ref('stg_shopify__products') }}
),

sessions as (
    select
        web_sessions.customer_id,
        count(*) as lifetime_sessions,
        sum(case when web_sessions.session_started_at >= reference.window_start then 1 else 0 end)
            as sessions_recent
    from web_sessions
    cross join reference
    group by web_sessions.customer_id
),

event_metrics as (
    select
        events.customer_id,
        max(events.event_at) as last_seen_on_site_at,
        sum(
            case
                when events.event_name = 'Product Viewed' and events.event_at >= reference.window_start then 1 else 0
            end
        )
            as product_views_recent,
        sum(
            case
                when events.event_name = 'Product Added' and events.event_at >= reference.window_start then 1 else 0
            end
        )
            as cart_adds_recent
    from events
    cross join reference
    group by events.customer_id
),

last_viewed as (
    select
        customer_id,
        product_id,
        product_category,
        event_at,
        row_number() over (partition by customer_id order by event_at desc, message_id desc) as recency_rank
    from events
    where event_name = 'Product Viewed' and product_id is not null
),

final as (
    select
        event_metrics.customer_id,
        event_metrics.last_seen_on_site_at,
        cast(coalesce(sessions.lifetime_sessions, 0) as integer) as lifetime_sessions,
        cast(coalesce(sessions.sessions_recent, 0) as integer) as sessions_30d,
        cast(event_metrics.product_views_recent as integer) as product_views_30d,
        cast(event_metrics.cart_adds_recent as integer) as cart_adds_30d,
        last_viewed.product_id as last_viewed_product_id,
        products.title as last_viewed_product_title,
        last_viewed.event_at as last_viewed_at,
        coalesce(products.category, last_viewed.product_category) as last_viewed_category
    from event_metrics
    left join sessions on event_metrics.customer_id = sessions.customer_id
    left join last_viewed on event_metrics.customer_id = last_viewed.customer_id and last_viewed.recency_rank = 1
    left join products on cast(last_viewed.product_id as {{ dbt.type_string() }}) = products.product_id
)

select * from final
