with

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

observations as (
    select
        source_system,
        source_record_id,
        source_created_at,
        observed_at
    from {{ ref('int_identity__observations') }}
),

source_records as (
    select
        source_system,
        source_record_id,
        source_created_at,
        first_loaded_at
    from {{ ref('int_identity__source_records') }}
),

summary as (
    select
        customer_id,
        count(*) as source_record_count,
        {{ dbt.listagg('distinct source_system', "','", 'order by source_system') }} as source_systems
    from identities
    group by customer_id
),

seen as (
    select
        identities.customer_id,
        min(coalesce(observations.source_created_at, observations.observed_at)) as first_seen_at,
        max(observations.observed_at) as last_seen_at
    from observations
    inner join identities
        on
            observations.source_system = identities.source_system
            and observations.source_record_id = identities.source_record_id
    group by identities.customer_id
),

-- First seen in any source: the earliest creation time any of the customer's records states (a CRM
-- contact's createdate, a Shopify account or order, a form submission, a device's first event); when
-- none states one, when the first of its records was loaded. Not when this build assigned the id.
created as (
    select
        identities.customer_id,
        coalesce(min(source_records.source_created_at), min(source_records.first_loaded_at)) as customer_created_at
    from identities
    inner join source_records
        on
            identities.source_system = source_records.source_system
            and identities.source_record_id = source_records.source_record_id
    group by identities.customer_id
),

final as (
    select
        summary.customer_id,
        summary.source_record_count,
        summary.source_systems,
        seen.first_seen_at,
        seen.last_seen_at,
        created.customer_created_at
    from summary
    left join seen on summary.customer_id = seen.customer_id
    left join created on summary.customer_id = created.customer_id
)

select * from final
