with

base_events as (
    select * from {{ ref('base_segment__events') }}
),

distinct_addresses as (
    select distinct address_found_raw
    from base_events
    where address_found_raw is not null
),

final as (
    select
        address_found_raw,
        {{ customer360.normalize_email('address_found_raw') }} as email_from_any_field
    from distinct_addresses
)

select * from final
