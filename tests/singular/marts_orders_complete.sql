{#
    The incremental commerce marts hold exactly what staging holds: every staged order once in
    `orders` (guest checkouts included) and every staged line item once in `order_items`, each with the
    unified customer of its source record as `customer_identities` says now. Catches an incremental run that
    missed a late order or kept a stale customer id.
#}

with

expected_orders as (
    select
        staged.order_id,
        identities.customer_id
    from {{ ref('stg_shopify__orders') }} as staged
    left join {{ ref('customer_identities') }} as identities
        on identities.source_system = 'shopify' and staged.source_record_id = identities.source_record_id
),

order_problems as (
    select
        cast(coalesce(expected_orders.order_id, orders.order_id) as {{ dbt.type_string() }}) as record_key,
        case
            when orders.order_id is null then 'order missing from orders'
            when expected_orders.order_id is null then 'order not in staging'
            else 'stale customer_id'
        end as problem
    from expected_orders
    full outer join {{ ref('orders') }} as orders on expected_orders.order_id = orders.order_id
    where
        orders.order_id is null
        or expected_orders.order_id is null
        or orders.customer_id is distinct from expected_orders.customer_id
),

item_problems as (
    select
        cast(coalesce(staged.line_item_id, items.line_item_id) as {{ dbt.type_string() }}) as record_key,
        case
            when items.line_item_id is null then 'line item missing from order_items'
            when staged.line_item_id is null then 'line item not in staging'
            else 'stale customer_id'
        end as problem
    from {{ ref('stg_shopify__order_line_items') }} as staged
    full outer join {{ ref('order_items') }} as items on staged.line_item_id = items.line_item_id
    left join {{ ref('orders') }} as orders on coalesce(staged.order_id, items.order_id) = orders.order_id
    where
        items.line_item_id is null
        or staged.line_item_id is null
        or items.customer_id is distinct from orders.customer_id
)

select * from order_problems
union all
select * from item_problems
