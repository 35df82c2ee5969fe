{#
    Refunds per order and per line item, in the order's own currency.
    The money actually returned is the sum of the refund's successful `refund` transactions (what
    Shopify reports as refunded); refund line items say which items and how many went back, and are the
    fallback amount when a refund carries no transaction.
#}

with

transactions as (
    select
        refund_id,
        sum(case when lower(kind) = 'refund' and lower(status) = 'success' then amount else 0 end) as refunded_amount,
        count(*) as transaction_count
    from {{ ref('stg_shopify__order_refund_transactions') }}
    group by refund_id
),

refund_lines as (
    select
        refund_id,
        sum(subtotal) as refunded_line_subtotal
    from {{ ref('stg_shopify__order_refund_line_items') }}
    group by refund_id
),

refunds as (
    select
        refunds.order_id,
        refunds.refund_id,
        refunds.refunded_at,
        case
            when coalesce(transactions.transaction_count, 0) > 0 then transactions.refunded_amount
            else coalesce(refund_lines.refunded_line_subtotal, 0)
        end as refunded_amount
    from {{ ref('stg_shopify__order_refunds') }} as refunds
    left join transactions on refunds.refund_id = transactions.refund_id
    left join refund_lines on refunds.refund_id = refund_lines.refund_id
)

select
    order_id,
    count(*) as refund_count,
    sum(refunded_amount) as refunded_amount,
    min(refunded_at) as first_refunded_at,
    max(refunded_at) as last_refunded_at
from refunds
group by order_id
