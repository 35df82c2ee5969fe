with

golden as (
    select * from {{ ref('int_customers__golden_attributes') }}
),

records as (
    select * from {{ ref('int_customers__record_summary') }}
),

enrichment as (
    select * from {{ ref('int_customers__profile_enrichment') }}
),

consent as (
    select * from {{ ref('int_customers__email_consent') }}
),

final as (
    select
        golden.customer_id,
        golden.email,
        golden.is_role_email,
        golden.email_source_system,
        golden.email_source_record_id,
        golden.phone_e164,
        golden.phone_source_system,
        golden.phone_source_record_id,
        golden.first_name,
        golden.last_name,
        golden.name_source_system,
        golden.name_source_record_id,
        golden.address_line1,
        golden.address_line2,
        golden.city,
        golden.postal_code,
        golden.region_code,
        golden.country_code,
        golden.address_source_system,
        golden.address_source_record_id,
        golden.date_of_birth,
        golden.date_of_birth_source_system,
        golden.date_of_birth_source_record_id,
        records.source_record_count,
        records.source_systems,
        records.first_seen_at,
        records.last_seen_at,
        records.customer_created_at,
        enrichment.lifetime_orders,
        enrichment.lifetime_gross_revenue,
        enrichment.lifetime_refunded_amount,
        enrichment.lifetime_net_revenue,
        enrichment.average_order_value,
        enrichment.first_order_at,
        enrichment.last_order_at,
        enrichment.days_since_last_order,
        enrichment.average_days_between_orders,
        enrichment.next_order_expected_from,
        enrichment.next_order_expected_to,
        enrichment.predicted_clv,
        enrichment.recency_score,
        enrichment.frequency_score,
        enrichment.monetary_score,
        enrichment.rfm_cell,
        enrichment.rfm_segment,
        enrichment.loyalty_tier,
        enrichment.preferred_category,
        enrichment.recommended_category,
        enrichment.last_seen_on_site_at,
        enrichment.lifetime_sessions,
        enrichment.sessions_30d,
        enrichment.product_views_30d,
        enrichment.last_viewed_product_id,
        enrichment.last_viewed_product_title,
        enrichment.last_viewed_category,
        coalesce(consent.consent_state, 'unknown') as email_consent_state,
        coalesce(consent.consent_basis, 'none') as email_consent_basis,
        consent.consent_source_system as email_consent_source_system,
        consent.consent_updated_at as email_consent_updated_at,
        coalesce(consent.is_undeliverable, false) as is_email_undeliverable,
        coalesce(consent.is_email_sendable, false) as is_email_sendable,
        case when golden.email is null then 'no_email' else consent.not_sendable_reason end as email_not_sendable_reason
    from golden
    inner join records on golden.customer_id = records.customer_id
    left join enrichment on golden.customer_id = enrichment.customer_id
    -- the consent of the golden address: the address we send to
    left join consent on golden.customer_id = consent.customer_id and golden.email = consent.email
)

select * from final
