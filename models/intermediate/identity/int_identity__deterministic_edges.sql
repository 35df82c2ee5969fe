with

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where is_usable
),

records as (
    select * from {{ ref('int_identity__source_records') }}
),

shared_pairs as (
    select
        a.record_key as record_key_a,
        b.record_key as record_key_b,
        a.identifier_type,
        a.identifier_value
    from identifiers as a
    inner join identifiers as b
        on
            a.identifier_type = b.identifier_type
            and a.identifier_value = b.identifier_value
            and a.record_key < b.record_key
),

compared as (
    select
        shared_pairs.*,
        case shared_pairs.identifier_type
            when 'shopify_customer' then 'shopify_customer_id'
            when 'shopify_order' then 'shopify_order_id'
            when 'hubspot_contact' then 'hubspot_merge'
            when 'email' then 'email_exact'
            when 'phone' then 'phone_exact_and_name'
        end as match_rule,
        shared_pairs.identifier_type in ('shopify_customer', 'shopify_order', 'hubspot_contact') as is_source_link,
        a.first_name_key is not null and b.first_name_key is not null
        and {{ identity_names_compatible('a', 'b') }} as names_agree,
        a.email_match_key is not null and b.email_match_key is not null
        and not a.is_role_email and not b.is_role_email
        and a.email_match_key <> b.email_match_key as emails_differ,
        a.date_of_birth is not null and b.date_of_birth is not null
        and a.date_of_birth <> b.date_of_birth
        and not {{ identity_dates_within_a_slip('a.date_of_birth', 'b.date_of_birth') }} as dob_conflict
    from shared_pairs
    inner join records as a on shared_pairs.record_key_a = a.record_key
    inner join records as b on shared_pairs.record_key_b = b.record_key
),

judged as (
    select
        *,
        case
            when is_source_link then null
            when dob_conflict then 'dob_conflict'
            when identifier_type = 'phone' and not names_agree then 'names_differ'
            when identifier_type = 'phone' and emails_differ then 'emails_differ'
        end as veto_reason
    from compared
),

final as (
    select
        record_key_a,
        record_key_b,
        match_rule,
        identifier_type,
        identifier_value,
        identifier_type || ' ' || identifier_value as evidence,
        veto_reason,
        veto_reason is null as is_strong,
        -- Deterministic edges are certain by rule; 1.0 lets them sort above any scored edge.
        cast(1.0 as double) as match_score
    from judged
)

select * from final
