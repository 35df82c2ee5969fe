with

refund_line_items as (
    select * from {{ ref('stg_shopify__order_refund_line_items') }}
),

final as (
    select
        line_item_id,
        sum(quantity) as refunded_quantity,
        sum(subtotal) as refunded_amount
    from refund_line_items
    where line_item_id is not null
    group by line_item_id
)

select * from final
