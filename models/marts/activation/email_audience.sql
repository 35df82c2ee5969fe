{#
    The export for the email platform: one row per customer we may email today, with personalization
    tokens and a SHA-256 of the normalized address for ad-platform matching (customer lists).
    Sendable only (int_customers__email_consent.is_email_sendable of the golden email: consent by the latest explicit
    signal across every source, not bounced or invalid, not a role address); the singular test
    marts_no_suppressed_address_in_activation re-checks that against the raw signals.
#}

with

golden as (
    select * from {{ ref('customers') }}
),

enrichment as (
    select * from {{ ref('int_customers__profile_enrichment') }}
),

consent as (
    select * from {{ ref('int_customers__email_consent') }}
)

select
    golden.customer_id,
    golden.email,
    {{ sha256_hex('lower(trim(golden.email))') }} as email_sha256,
    golden.first_name,
    golden.country_code,
    enrichment.rfm_segment,
    enrichment.loyalty_tier,
    enrichment.lifetime_orders,
    enrichment.last_order_at,
    enrichment.preferred_category,
    enrichment.recommended_category,
    enrichment.last_viewed_product_id,
    enrichment.last_viewed_product_title,
    enrichment.last_viewed_category,
    consent.consent_basis as email_consent_basis,
    consent.consent_source_system as email_consent_source_system,
    consent.consent_updated_at as email_consent_updated_at
from golden
inner join enrichment on golden.customer_id = enrichment.customer_id
-- the consent of the golden address: the address we send to
inner join consent on golden.customer_id = consent.customer_id and golden.email = consent.email
where consent.is_email_sendable
