with

order_refunds as (
    select * from {{ ref('stg_shopify__order_refunds') }}
),

refund_transactions as (
    select * from {{ ref('stg_shopify__order_refund_transactions') }}
),

refund_line_items as (
    select * from {{ ref('stg_shopify__order_refund_line_items') }}
),

transactions as (
    select
        refund_id,
        sum(case when lower(kind) = 'refund' and lower(status) = 'success' then amount else 0 end) as refunded_amount,
        count(*) as transaction_count
    from refund_transactions
    group by refund_id
),

refund_lines as (
    select
        refund_id,
        sum(subtotal) as refunded_line_subtotal
    from refund_line_items
    group by refund_id
),

refunds as (
    -- the money returned is the refund's successful `refund` transactions; its line items are the
    -- fallback amount when it carries no transaction
    select
        order_refunds.order_id,
        order_refunds.refund_id,
        order_refunds.refunded_at,
        case
            when coalesce(transactions.transaction_count, 0) > 0 then transactions.refunded_amount
            else coalesce(refund_lines.refunded_line_subtotal, 0)
        end as refunded_amount
    from order_refunds
    left join transactions on order_refunds.refund_id = transactions.refund_id
    left join refund_lines on order_refunds.refund_id = refund_lines.refund_id
),

final as (
    select
        order_id,
        count(*) as refund_count,
        sum(refunded_amount) as refunded_amount,
        min(refunded_at) as first_refunded_at,
        max(refunded_at) as last_refunded_at
    from refunds
    group by order_id
)

select * from final
