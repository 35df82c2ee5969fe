with

reference as (
    select
        reference_at,
        {{ dbt.dateadd('hour', -1 * var('cart_abandonment_window_hours'), 'reference_at') }} as abandoned_before,
        {{ dbt.dateadd('day', -1 * var('cart_abandonment_max_age_days'), 'reference_at') }} as oldest_cart
    from {{ ref('int_customers__reference_time') }}
),

cart_events as (
    select
        cart_id,
        customer_id,
        message_id,
        event_name,
        event_at,
        product_id,
        product_category,
        price
    from {{ ref('int_engagement__events') }}
    where
        cart_id is not null
        and event_name in ('Product Added', 'Checkout Started')
),

products as (
    select
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        title,
        category
    from {{ ref('stg_shopify__products') }}
),

sendable_customers as (
    -- the golden address and its consent, as `customers` assembled them
    select
        customer_id,
        email,
        first_name,
        recommended_category
    from {{ ref('customers') }}
    where is_email_sendable
),

orders as (
    select
        customer_id,
        ordered_at
    from {{ ref('orders') }}
    where customer_id is not null
),

completed_orders as (
    select
        customer_id,
        event_at as ordered_at
    from {{ ref('int_engagement__events') }}
    where event_name = 'Order Completed' and customer_id is not null
),

orders_by_customer as (
    select * from orders
    union all
    select * from completed_orders
),

carts as (
    select
        cart_id,
        max(customer_id) as customer_id,
        min(event_at) as cart_started_at,
        max(event_at) as last_cart_activity_at,
        max(case when event_name = 'Checkout Started' then 1 else 0 end) = 1 as reached_checkout,
        sum(case when event_name = 'Product Added' then 1 else 0 end) as items_added,
        sum(case when event_name = 'Product Added' then price else 0 end) as cart_value
    from cart_events
    group by cart_id
),

last_added as (
    select
        cart_id,
        product_id,
        product_category,
        row_number() over (partition by cart_id order by event_at desc, message_id desc) as recency_rank
    from cart_events
    where event_name = 'Product Added' and product_id is not null
),

not_yet_triggered as (
    select carts.*
    from carts
    {% if is_incremental() %}
        where carts.cart_id not in (select triggered.cart_id from {{ this }} as triggered)
    {% endif %}
),

abandoned as (
    select carts.*
    from not_yet_triggered as carts
    cross join reference
    where
        carts.customer_id is not null
        and carts.last_cart_activity_at <= reference.abandoned_before
        and carts.last_cart_activity_at >= reference.oldest_cart
        and not exists (
            select 1 from orders_by_customer
            where
                orders_by_customer.customer_id = carts.customer_id
                and orders_by_customer.ordered_at >= carts.cart_started_at
        )
),

final as (
    select
        {{ surrogate_key(['abandoned.cart_id']) }} as trigger_id,
        abandoned.cart_id,
        abandoned.customer_id,
        golden.email,
        golden.first_name,
        abandoned.cart_started_at,
        abandoned.last_cart_activity_at,
        {{ dbt.dateadd('hour', var('cart_abandonment_window_hours'), 'abandoned.last_cart_activity_at') }}
            as abandoned_at,
        abandoned.reached_checkout,
        cast(abandoned.items_added as integer) as items_added,
        cast(abandoned.cart_value as decimal(18, 2)) as cart_value,
        last_added.product_id as last_added_product_id,
        products.title as last_added_product_title,
        coalesce(products.category, last_added.product_category) as last_added_category,
        golden.recommended_category,
        cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as triggered_at,
        '{{ invocation_id }}' as trigger_batch_id
    from abandoned
    inner join sendable_customers as golden on abandoned.customer_id = golden.customer_id
    left join last_added on abandoned.cart_id = last_added.cart_id and last_added.recency_rank = 1
    left join products on cast(last_added.product_id as {{ dbt.type_string() }}) = products.product_id
)

select * from final
