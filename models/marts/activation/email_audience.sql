with

{{ customer360.suppression_guard_ctes() }}

customers as (
    select * from {{ ref('customers') }}
),

sendable as (
    -- the ledger's verdict on the golden address (customers.is_email_sendable), then the independent guard
    select
        customers.*,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from customers
    {{ customer360.suppression_guard_joins('customers.customer_id', 'customers.email') }}
    where customers.is_email_sendable
),

final as (
    select
        customer_id,
        email,
        {{ sha256_hex('lower(trim(email))') }} as email_sha256,
        {{ customer360.export_safe_text('first_name') }} as first_name,
        country_code,
        rfm_segment,
        loyalty_tier,
        lifetime_orders,
        last_order_at,
        {{ customer360.export_safe_text('preferred_category') }} as preferred_category,
        {{ customer360.export_safe_text('recommended_category') }} as recommended_category,
        {{ customer360.export_safe_text('last_viewed_product_id') }} as last_viewed_product_id,
        {{ customer360.export_safe_text('last_viewed_product_title') }} as last_viewed_product_title,
        {{ customer360.export_safe_text('last_viewed_category') }} as last_viewed_category,
        email_consent_basis,
        email_consent_source_system,
        email_consent_updated_at
    from sendable
    where
        guard_block_reason is null
        and not {{ customer360.regex_matches('email', '^[[:space:]]*[=+@-]') }}
)

select * from final
