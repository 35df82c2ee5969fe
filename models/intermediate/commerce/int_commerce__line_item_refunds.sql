{#
    What was refunded per line item, in the order's currency: refunded quantity and the refund line
    items' subtotals (an item refunded in two refunds sums both).
#}

select
    line_item_id,
    sum(quantity) as refunded_quantity,
    sum(subtotal) as refunded_amount
from {{ ref('stg_shopify__order_refund_line_items') }}
where line_item_id is not null
group by line_item_id
