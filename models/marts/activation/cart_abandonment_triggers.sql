with

{{ customer360.suppression_guard_ctes() }}

triggers as (
    select * from {{ ref('cart_abandonment_trigger_log') }}
),

customers as (
    select
        customer_id,
        email,
        is_email_sendable
    from {{ ref('customers') }}
),

checked as (
    -- still the customer's golden address and sendable (the ledger), then the independent guard
    select
        triggers.*,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from triggers
    inner join customers on triggers.customer_id = customers.customer_id and triggers.email = customers.email
    {{ customer360.suppression_guard_joins('triggers.customer_id', 'triggers.email') }}
    where customers.is_email_sendable
),

final as (
    select
        trigger_id,
        cart_id,
        customer_id,
        email,
        {{ customer360.export_safe_text('first_name') }} as first_name,
        cart_started_at,
        last_cart_activity_at,
        abandoned_at,
        reached_checkout,
        items_added,
        cart_value,
        {{ customer360.export_safe_text('last_added_product_id') }} as last_added_product_id,
        {{ customer360.export_safe_text('last_added_product_title') }} as last_added_product_title,
        {{ customer360.export_safe_text('last_added_category') }} as last_added_category,
        {{ customer360.export_safe_text('recommended_category') }} as recommended_category,
        triggered_at,
        trigger_batch_id
    from checked
    where
        guard_block_reason is null
        and not {{ customer360.regex_matches('email', '^[[:space:]]*[=+@-]') }}
)

select * from final
