with

observations as (
    select * from {{ ref('int_identity__observations') }}
),

contact_merges as (
    select * from {{ ref('stg_hubspot__contact_merges') }}
),

exclusions as (
    select
        lower(trim(identifier_type)) as identifier_type,
        lower(trim(identifier_value)) as identifier_value,
        any_value(reason) as reason
    from {{ ref('identity_exclusions') }}
    group by lower(trim(identifier_type)), lower(trim(identifier_value))
),

raw_identifiers as (
    select
        record_key,
        'email' as identifier_type,
        email_match_key as identifier_value,
        coalesce(is_role_email, false) as is_role_email,
        observed_at
    from observations
    where email_match_key is not null

    union all

    select
        record_key,
        'phone' as identifier_type,
        phone_e164 as identifier_value,
        false as is_role_email,
        observed_at
    from observations
    where phone_e164 is not null

    union all

    select
        record_key,
        'shopify_customer' as identifier_type,
        shopify_customer_id as identifier_value,
        false as is_role_email,
        observed_at
    from observations
    where shopify_customer_id is not null

    union all

    select
        record_key,
        'shopify_order' as identifier_type,
        shopify_order_id as identifier_value,
        false as is_role_email,
        observed_at
    from observations
    where shopify_order_id is not null

    union all

    select
        record_key,
        'hubspot_contact' as identifier_type,
        source_record_id as identifier_value,
        false as is_role_email,
        observed_at
    from observations
    where source_system = 'hubspot'

    union all

    -- HubSpot states the merge: the surviving contact also carries the ids merged into it.
    select
        {{ identity_record_key("'hubspot'", 'cast(contact_merges.contact_id as varchar)') }} as record_key,
        'hubspot_contact' as identifier_type,
        cast(contact_merges.merged_contact_id as varchar) as identifier_value,
        false as is_role_email,
        cast(null as timestamp) as observed_at
    from contact_merges
),

identifiers as (
    select
        record_key,
        identifier_type,
        identifier_value,
        bool_or(is_role_email) as is_role_email,
        max(observed_at) as last_observed_at
    from raw_identifiers
    group by record_key, identifier_type, identifier_value
),

shared as (
    select
        identifiers.*,
        count(*) over (partition by identifiers.identifier_type, identifiers.identifier_value) as records_sharing
    from identifiers
),

final as (
    select
        shared.record_key,
        shared.identifier_type,
        shared.identifier_value,
        shared.is_role_email,
        exclusions.identifier_value is not null as is_excluded,
        shared.records_sharing,
        shared.last_observed_at,
        case
            when shared.is_role_email then 'role_email'
            when exclusions.identifier_value is not null
                then 'excluded: ' || coalesce(exclusions.reason, 'identity_exclusions seed')
            when shared.records_sharing > {{ var('identity_max_records_per_identifier') }}
                then 'shared_by_too_many_records'
        end as guard_reason,
        guard_reason is null as is_usable
    from shared
    left join exclusions
        on
            shared.identifier_type = exclusions.identifier_type
            and lower(shared.identifier_value) = exclusions.identifier_value
)

select * from final
