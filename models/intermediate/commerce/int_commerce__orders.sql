with

staged_orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

staged_line_items as (
    select
        order_id,
        quantity
    from {{ ref('stg_shopify__order_line_items') }}
),

identities as (
    select
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
    where source_system = 'shopify'
),

fx_rates as (
    select * from {{ ref('int_commerce__fx_rates') }}
),

refunds as (
    select * from {{ ref('int_commerce__order_refunds') }}
),

line_items as (
    select
        order_id,
        count(*) as line_item_count,
        sum(quantity) as item_quantity
    from staged_line_items
    group by order_id
),

{% if is_incremental() %}
    to_process as (
        select order_id
        from staged_orders
        where
            loaded_at >= (
                select {{ dbt.dateadd('hour', -1 * var('incremental_lookback_hours'), 'max(loaded_at)') }}
                from {{ this }}
            )
        union
        select already_built.order_id
        from {{ this }} as already_built
        left join identities on already_built.source_record_id = identities.source_record_id
        where identities.customer_id is distinct from already_built.customer_id
    ),
{% endif %}

orders as (
    select staged_orders.*
    from staged_orders
    {% if is_incremental() %}
        inner join to_process on staged_orders.order_id = to_process.order_id
    {% endif %}
),

converted as (
    select  -- noqa: ST06
        orders.order_id,
        orders.order_name,
        orders.source_record_id,
        identities.customer_id,
        orders.customer_id as shopify_customer_id,
        orders.is_guest_checkout,
        orders.email,
        -- staging nulls an impossible created_at (quarantined); the processing time stands in for it
        coalesce(orders.source_created_at, orders.processed_at) as ordered_at,
        orders.processed_at,
        orders.cancelled_at,
        orders.cancelled_at is not null as is_cancelled,
        orders.financial_status,
        orders.fulfillment_status,
        orders.currency as currency_code,
        fx.reporting_currency,
        fx.rate_to_reporting,
        coalesce(line_items.line_item_count, 0) as line_item_count,
        coalesce(line_items.item_quantity, 0) as item_quantity,
        orders.total_price as total_amount_local,
        coalesce(refunds.refunded_amount, 0) as refunded_amount_local,
        coalesce(refunds.refund_count, 0) as refund_count,
        refunds.last_refunded_at,
        orders.subtotal_price * fx.rate_to_reporting as subtotal_amount,
        orders.total_discounts * fx.rate_to_reporting as discount_amount,
        orders.total_tax * fx.rate_to_reporting as tax_amount,
        orders.total_shipping * fx.rate_to_reporting as shipping_amount,
        orders.total_price * fx.rate_to_reporting as total_amount,
        coalesce(refunds.refunded_amount, 0) * fx.rate_to_reporting as refunded_amount,
        orders.country_code as shipping_country_code,
        orders.landing_site,
        orders.loaded_at
    from orders
    left join identities on orders.source_record_id = identities.source_record_id
    left join fx_rates as fx on orders.currency = fx.currency_code
    left join line_items on orders.order_id = line_items.order_id
    left join refunds on orders.order_id = refunds.order_id
),

final as (
    select  -- noqa: ST06
        order_id,
        order_name,
        source_record_id,
        customer_id,
        shopify_customer_id,
        is_guest_checkout,
        email,
        ordered_at,
        processed_at,
        cancelled_at,
        is_cancelled,
        financial_status,
        fulfillment_status,
        -- Counted in revenue and customer metrics: not cancelled, not voided, with a usable total.
        (
            not is_cancelled and coalesce(financial_status, '') <> 'voided' and total_amount is not null
        ) as is_revenue_order,
        currency_code,
        reporting_currency,
        cast(rate_to_reporting as decimal(18, 8)) as rate_to_reporting,
        cast(line_item_count as integer) as line_item_count,
        cast(item_quantity as integer) as item_quantity,
        cast(total_amount_local as decimal(18, 2)) as total_amount_local,
        cast(refunded_amount_local as decimal(18, 2)) as refunded_amount_local,
        cast(round(subtotal_amount, 2) as decimal(18, 2)) as subtotal_amount,
        cast(round(discount_amount, 2) as decimal(18, 2)) as discount_amount,
        cast(round(tax_amount, 2) as decimal(18, 2)) as tax_amount,
        cast(round(shipping_amount, 2) as decimal(18, 2)) as shipping_amount,
        cast(round(total_amount, 2) as decimal(18, 2)) as total_amount,
        cast(round(refunded_amount, 2) as decimal(18, 2)) as refunded_amount,
        -- the difference of the rounded amounts, so total_amount - refunded_amount = net_revenue to the cent
        cast(round(total_amount, 2) - round(refunded_amount, 2) as decimal(18, 2)) as net_revenue,
        cast(refund_count as integer) as refund_count,
        last_refunded_at,
        shipping_country_code,
        landing_site,
        loaded_at
    from converted
)

select * from final
