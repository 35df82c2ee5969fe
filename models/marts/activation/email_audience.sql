{#
    The export for the email platform: one row per customer we may email now, with personalization
    tokens and a SHA-256 of the normalized address for ad-platform matching (customer lists).

    Two independent checks must both pass (docs/dbt/consent.md):
      - the consent ledger: int_customers__email_consent.is_email_sendable of the golden email (latest
        explicit signal across every source, not bounced or invalid, not a role address);
      - the suppression guard: int_engagement__suppression_guard, a second reading of the raw data that
        blocks any address or customer with an opt-out not followed by a valid opt-in, or a bounce.
    A view, so the guard is applied when the platform reads it: an unsubscribe loaded after the last
    build, or during a build that failed elsewhere, is out of the audience at once.
    Text tokens are spreadsheet-safe (export_safe_text); an address starting with a formula character is
    not exported at all.
#}

{{ config(materialized='view') }}

with

golden as (
    select * from {{ ref('customers') }}
),

enrichment as (
    select * from {{ ref('int_customers__profile_enrichment') }}
),

consent as (
    select * from {{ ref('int_customers__email_consent') }}
),

sendable as (
    select
        golden.customer_id,
        golden.email,
        golden.first_name,
        golden.country_code,
        consent.consent_basis,
        consent.consent_source_system,
        consent.consent_updated_at,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from golden
    -- the consent of the golden address: the address we send to
    inner join consent on golden.customer_id = consent.customer_id and golden.email = consent.email
    {{ customer360.suppression_guard_joins('golden.customer_id', 'golden.email') }}
    where consent.is_email_sendable
)

select
    sendable.customer_id,
    sendable.email,
    {{ sha256_hex('lower(trim(sendable.email))') }} as email_sha256,
    {{ customer360.export_safe_text('sendable.first_name') }} as first_name,
    sendable.country_code,
    enrichment.rfm_segment,
    enrichment.loyalty_tier,
    enrichment.lifetime_orders,
    enrichment.last_order_at,
    {{ customer360.export_safe_text('enrichment.preferred_category') }} as preferred_category,
    {{ customer360.export_safe_text('enrichment.recommended_category') }} as recommended_category,
    {{ customer360.export_safe_text('enrichment.last_viewed_product_id') }} as last_viewed_product_id,
    {{ customer360.export_safe_text('enrichment.last_viewed_product_title') }} as last_viewed_product_title,
    {{ customer360.export_safe_text('enrichment.last_viewed_category') }} as last_viewed_category,
    sendable.consent_basis as email_consent_basis,
    sendable.consent_source_system as email_consent_source_system,
    sendable.consent_updated_at as email_consent_updated_at
from sendable
inner join enrichment on sendable.customer_id = enrichment.customer_id
where
    sendable.guard_block_reason is null
    and not {{ customer360.regex_matches('sendable.email', '^[[:space:]]*[=+@-]') }}
