with

order_items as (
    select * from {{ ref('int_commerce__order_items') }}
),

final as (
    select
        line_item_id,
        order_id,
        customer_id,
        ordered_at,
        product_id,
        variant_id,
        sku,
        product_title,
        category,
        vendor,
        quantity,
        refunded_quantity,
        currency_code,
        unit_price_local,
        unit_price,
        gross_amount,
        discount_amount,
        refunded_amount,
        net_amount,
        is_revenue_order,
        loaded_at
    from order_items
)

select * from final
