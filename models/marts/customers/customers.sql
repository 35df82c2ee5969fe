{#
    The golden record: one row per customer, each attribute chosen from the customer's observations
    by its survivorship rule (var identity_survivorship, macro identity_survivorship_order), with its
    provenance (<attribute>_source_system, <attribute>_source_record_id).

    Attributes travel as blocks: first and last name come from the same observation, and so do the
    address parts, so a golden record never mixes two addresses. A personal email always beats a role
    address (info@ ...), whatever the rule.

    The marts' enrichment (order metrics, RFM, loyalty, categories, site engagement) joins on customer_id,
    and consent/sendability on the golden email: int_customers__profile_enrichment and
    int_customers__email_consent read customer_identities, never this model, so there is no cycle.
#}

with

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('customer_identities') }}
),

priorities as (
    select
        source_system,
        trust_rank
    from {{ ref('identity_source_priorities') }}
),

observations as (
    select
        identities.customer_id,
        observations.*,
        coalesce(priorities.trust_rank, 99) as trust_rank,
        observations.observation_kind = 'order' or observations.source_record_id like 'order:%' as is_order
    from {{ ref('int_identity__observations') }} as observations
    inner join identities
        on
            observations.source_system = identities.source_system
            and observations.source_record_id = identities.source_record_id
    left join priorities on observations.source_system = priorities.source_system
),

email_candidates as (
    select
        *,
        1 as completeness,
        count(*) over (partition by customer_id, email_match_key) as value_count
    from observations
    where email is not null
),

email_pick as (
    select
        customer_id,
        email,
        is_role_email,
        source_system as email_source_system,
        source_record_id as email_source_record_id
    from email_candidates
    qualify row_number() over (
        partition by customer_id
        order by coalesce(is_role_email, false), {{ identity_survivorship_order(identity_survivorship_rule('email')) }}
    ) = 1
),

phone_candidates as (
    select
        *,
        1 as completeness,
        count(*) over (partition by customer_id, phone_e164) as value_count
    from observations
    where phone_e164 is not null
),

phone_pick as (
    select
        customer_id,
        phone_e164,
        source_system as phone_source_system,
        source_record_id as phone_source_record_id
    from phone_candidates
    qualify row_number() over (
        partition by customer_id order by {{ identity_survivorship_order(identity_survivorship_rule('phone')) }}
    ) = 1
),

name_candidates as (
    select
        *,
        -- Both parts first, then the fuller spelling (William over Bill).
        ((first_name is not null)::int + (last_name is not null)::int) * 100
        + length(coalesce(first_name, '')) + length(coalesce(last_name, '')) as completeness,
        count(*) over (partition by customer_id, first_name, last_name) as value_count
    from observations
    where first_name is not null or last_name is not null
),

name_pick as (
    select
        customer_id,
        first_name,
        last_name,
        source_system as name_source_system,
        source_record_id as name_source_record_id
    from name_candidates
    qualify row_number() over (
        partition by customer_id order by {{ identity_survivorship_order(identity_survivorship_rule('name')) }}
    ) = 1
),

address_candidates as (
    select
        *,
        (address_line1 is not null)::int + (city is not null)::int + (postal_code is not null)::int
        + (region_code is not null)::int + (country_code is not null)::int as completeness,
        count(*) over (partition by customer_id, address_line1, postal_code) as value_count
    from observations
    where address_line1 is not null or postal_code is not null or city is not null
),

address_pick as (
    select
        customer_id,
        address_line1,
        address_line2,
        city,
        postal_code,
        region_code,
        country_code,
        source_system as address_source_system,
        source_record_id as address_source_record_id
    from address_candidates
    qualify row_number() over (
        partition by customer_id order by {{ identity_survivorship_order(identity_survivorship_rule('address')) }}
    ) = 1
),

date_of_birth_candidates as (
    select
        *,
        1 as completeness,
        count(*) over (partition by customer_id, date_of_birth) as value_count
    from observations
    where date_of_birth is not null
),

date_of_birth_pick as (
    select
        customer_id,
        date_of_birth,
        source_system as date_of_birth_source_system,
        source_record_id as date_of_birth_source_record_id
    from date_of_birth_candidates
    qualify row_number() over (
        partition by customer_id
        order by {{ identity_survivorship_order(identity_survivorship_rule('date_of_birth')) }}
    ) = 1
),

summary as (
    select
        identities.customer_id,
        count(*) as source_record_count,
        string_agg(distinct identities.source_system, ',' order by identities.source_system) as source_systems
    from identities
    group by identities.customer_id
),

seen as (
    select
        customer_id,
        min(coalesce(source_created_at, observed_at)) as first_seen_at,
        max(observed_at) as last_seen_at
    from observations
    group by customer_id
),

{#
    First seen in any source: the earliest creation time any of the customer's records states (a CRM
    contact's createdate, a Shopify account or order, a form submission, a device's first event); when
    none states one, when the first of its records was loaded. Not when this build assigned the id.
#}
created as (
    select
        identities.customer_id,
        coalesce(min(records.source_created_at), min(records.first_loaded_at)) as customer_created_at
    from identities
    inner join {{ ref('int_identity__source_records') }} as records
        on
            identities.source_system = records.source_system
            and identities.source_record_id = records.source_record_id
    group by identities.customer_id
)

select
    summary.customer_id,
    email_pick.email,
    coalesce(email_pick.is_role_email, false) as is_role_email,
    email_pick.email_source_system,
    email_pick.email_source_record_id,
    phone_pick.phone_e164,
    phone_pick.phone_source_system,
    phone_pick.phone_source_record_id,
    name_pick.first_name,
    name_pick.last_name,
    name_pick.name_source_system,
    name_pick.name_source_record_id,
    address_pick.address_line1,
    address_pick.address_line2,
    address_pick.city,
    address_pick.postal_code,
    address_pick.region_code,
    address_pick.country_code,
    address_pick.address_source_system,
    address_pick.address_source_record_id,
    date_of_birth_pick.date_of_birth,
    date_of_birth_pick.date_of_birth_source_system,
    date_of_birth_pick.date_of_birth_source_record_id,
    summary.source_record_count,
    summary.source_systems,
    seen.first_seen_at,
    seen.last_seen_at,
    created.customer_created_at,
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
    case when email_pick.email is null then 'no_email' else consent.not_sendable_reason end as email_not_sendable_reason
from summary
left join email_pick on summary.customer_id = email_pick.customer_id
left join phone_pick on summary.customer_id = phone_pick.customer_id
left join name_pick on summary.customer_id = name_pick.customer_id
left join address_pick on summary.customer_id = address_pick.customer_id
left join date_of_birth_pick on summary.customer_id = date_of_birth_pick.customer_id
left join seen on summary.customer_id = seen.customer_id
left join created on summary.customer_id = created.customer_id
left join {{ ref('int_customers__profile_enrichment') }} as enrichment on summary.customer_id = enrichment.customer_id
left join {{ ref('int_customers__email_consent') }} as consent
    on email_pick.customer_id = consent.customer_id and email_pick.email = consent.email
