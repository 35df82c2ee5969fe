{#
    The cart-abandonment triggers the email platform may send now: the rows of
    `cart_abandonment_trigger_log` (each cart emitted once, ever) whose address is still sendable when
    the platform reads them. A trigger logged before its person unsubscribed, bounced or was merged into
    another customer drops out. Both checks apply, as in `email_audience`: the consent ledger and the
    independent suppression guard, the latter read live from the raw data (this is a view).
#}

{{ config(materialized='view') }}

with

triggers as (
    select * from {{ ref('cart_abandonment_trigger_log') }}
),

consent as (
    select * from {{ ref('int_customers__email_consent') }}
),

checked as (
    select
        triggers.*,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from triggers
    inner join consent on triggers.customer_id = consent.customer_id and triggers.email = consent.email
    {{ customer360.suppression_guard_joins('triggers.customer_id', 'triggers.email') }}
    where consent.is_email_sendable
)

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
