with

base_events as (
    select * from {{ ref('base_segment__events') }}
),

distinct_codes as (
    select distinct
        track_event_raw,
        device_type_raw,
        event_type_raw,
        currency_raw
    from base_events
),

final as (
    -- the seed lookups, once per distinct combination of the coded fields
    select
        {{ customer360.values_key(
            ['track_event_raw', 'device_type_raw', 'event_type_raw', 'currency_raw'], 'distinct_codes'
        ) }} as code_values_key,
        distinct_codes.track_event_raw,
        distinct_codes.device_type_raw,
        distinct_codes.event_type_raw,
        distinct_codes.currency_raw,
        {{ customer360.email_consent_state('segment', 'distinct_codes.track_event_raw') }} as email_consent_state,
        {{ customer360.seed_lookup(
            'enum_device_types', 'source_value', 'device_type', 'distinct_codes.device_type_raw'
        ) }} as device_type,
        {{ customer360.seed_lookup(
            'enum_segment_event_types', 'source_value', 'event_type', 'distinct_codes.event_type_raw'
        ) }} as event_type,
        {{ customer360.currency_code('distinct_codes.currency_raw') }} as currency
    from distinct_codes
)

select * from final
