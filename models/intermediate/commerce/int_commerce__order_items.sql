-- depends_on: {{ ref('stg_shopify__orders') }}
with

orders as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.currency_code,
        orders.rate_to_reporting,
        orders.is_revenue_order,
        orders.loaded_at
    from {{ ref('int_commerce__orders') }} as orders
    {% if is_incremental() %}
        where orders.loaded_at >= (
            select {{ dbt.dateadd('hour', -1 * var('incremental_lookback_hours'), 'max(loaded_at)') }}
            from {{ this }}
        )
        or not exists (
            select 1 from {{ this }} as already_built
            where
                already_built.order_id = orders.order_id
                and already_built.customer_id is not distinct from orders.customer_id
        )
    {% endif %}
),

line_items as (
    select * from {{ ref('stg_shopify__order_line_items') }}
),

products as (
    select
        product_id,
        title as product_title,
        category
    from {{ ref('stg_shopify__products') }}
),

refunds as (
    select * from {{ ref('int_commerce__line_item_refunds') }}
),

final as (
    select  -- noqa: ST06
        items.line_item_id,
        items.order_id,
        orders.customer_id,
        orders.ordered_at,
        items.product_id,
        items.variant_id,
        items.sku,
        coalesce(products.product_title, items.title) as product_title,
        coalesce(products.category, 'Uncategorized') as category,
        items.vendor,
        cast(items.quantity as integer) as quantity,
        cast(coalesce(refunds.refunded_quantity, 0) as integer) as refunded_quantity,
        orders.currency_code,
        cast(items.price as decimal(18, 2)) as unit_price_local,
        cast(round(items.price * orders.rate_to_reporting, 2) as decimal(18, 2)) as unit_price,
        cast(round(items.price * items.quantity * orders.rate_to_reporting, 2) as decimal(18, 2)) as gross_amount,
        cast(round(coalesce(items.total_discount, 0) * orders.rate_to_reporting, 2) as decimal(18, 2))
            as discount_amount,
        cast(round(coalesce(refunds.refunded_amount, 0) * orders.rate_to_reporting, 2) as decimal(18, 2))
            as refunded_amount,
        -- the difference of the rounded amounts, so the columns reconcile to the cent
        cast(
            round(items.price * items.quantity * orders.rate_to_reporting, 2)
            - round(coalesce(items.total_discount, 0) * orders.rate_to_reporting, 2)
            - round(coalesce(refunds.refunded_amount, 0) * orders.rate_to_reporting, 2)
            as decimal(18, 2)
        ) as net_amount,
        orders.is_revenue_order,
        orders.loaded_at
    from line_items as items
    inner join orders on items.order_id = orders.order_id
    left join products on items.product_id = products.product_id
    left join refunds on items.line_item_id = refunds.line_item_id
)

select * from final
