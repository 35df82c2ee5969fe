with

orders as (
    select * from {{ ref('int_commerce__orders') }}
),

final as (
    select
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
        is_revenue_order,
        currency_code,
        reporting_currency,
        rate_to_reporting,
        line_item_count,
        item_quantity,
        total_amount_local,
        refunded_amount_local,
        subtotal_amount,
        discount_amount,
        tax_amount,
        shipping_amount,
        total_amount,
        refunded_amount,
        net_revenue,
        refund_count,
        last_refunded_at,
        shipping_country_code,
        landing_site,
        loaded_at
    from orders
)

select * from final
