with

base_events as (
    -- incremental: the events parsed since the newest staged, plus events staged with a date then in the
    -- future (a verdict of the build time) and events whose lookup row was missing (a selection that
    -- parsed new events without rebuilding the lookups: is_email_invalid is never null otherwise, and a
    -- missing code row nulls event_type). The parse is its own table (base_segment__events): over the
    -- parsed table the lookups below know their sizes, and a full refresh of 17M events no longer builds
    -- its hash joins on the wide rows. A change to a seed read by the lookups needs
    -- `--full-refresh -s base_segment__event_codes+ base_segment__event_person_values+
    -- base_segment__event_found_addresses+`.
    select * from {{ ref('base_segment__events') }}
    {% if is_incremental() %}
        where
            loaded_at > (
                select max(already_staged.loaded_at) from {{ this }} as already_staged
            )
            or message_id in (
                select already_staged.message_id
                from {{ this }} as already_staged
                where
                    already_staged.event_at_issue = 'future_date'
                    or already_staged.is_email_invalid is null
                    or already_staged.is_event_type_unknown
            )
            or not exists (select 1 from {{ this }})
    {% endif %}
),

person_values as (
    select * from {{ ref('base_segment__event_person_values') }}
),

codes as (
    select * from {{ ref('base_segment__event_codes') }}
),

found_addresses as (
    select * from {{ ref('base_segment__event_found_addresses') }}
),

validated as (
    select
        base_events.*,
        {{ customer360.timestamp_issue('base_events.event_at_raw', 'base_events.event_at_parsed') }} as event_at_issue,
        codes.email_consent_state as c360_consent_state,
        codes.device_type,
        codes.event_type,
        codes.currency,
        found_addresses.email_from_any_field
    from base_events
    left join codes
        on
            base_events.track_event_raw is not distinct from codes.track_event_raw
            and base_events.device_type_raw is not distinct from codes.device_type_raw
            and base_events.event_type_raw is not distinct from codes.event_type_raw
            and base_events.currency_raw is not distinct from codes.currency_raw
    left join found_addresses on base_events.address_found_raw = found_addresses.address_found_raw
),

final as (
    select
        'segment' as source_system,
        case
            when validated.anonymous_id is not null
                then {{ dbt.concat(["'anonymous:'", 'validated.anonymous_id']) }}
            when validated.user_id is not null then {{ dbt.concat(["'user:'", 'validated.user_id']) }}
        end as source_record_id,
        validated.message_id,
        validated.anonymous_id,
        validated.user_id,
        validated.event_type,
        case
            when validated.event_type = 'track' then validated.track_event_raw
            when validated.event_type = 'page' then validated.page_name_raw
        end as event_name,
        persons.email,
        persons.email_match_key,
        persons.is_role_email,
        persons.phone_e164,
        persons.first_name,
        persons.last_name,
        persons.first_name_key,
        persons.last_name_key,
        persons.given_name_canonical,
        persons.date_of_birth,
        persons.address_line1,
        persons.address_line2,
        persons.city,
        persons.postal_code,
        persons.region_code,
        persons.country_code,
        coalesce(validated.c360_consent_state, 'unknown') as email_consent_state,
        case
            when validated.c360_consent_state is not null and validated.event_at_issue is null
                then validated.event_at_parsed
        end as email_consent_updated_at,
        {#- An event is created and last updated when it happens. -#}
        case when validated.event_at_issue is null then validated.event_at_parsed end as source_created_at,
        case when validated.event_at_issue is null then validated.event_at_parsed end as source_updated_at,
        validated.loaded_at,
        case when validated.event_at_issue is null then validated.event_at_parsed end as event_at,
        validated.sent_at,
        validated.received_at,
        validated.email_from_any_field,
        validated.page_url,
        validated.page_path,
        validated.page_referrer,
        validated.page_title,
        validated.page_search,
        validated.campaign_source,
        validated.campaign_medium,
        validated.campaign_name,
        validated.device_type,
        validated.user_agent,
        validated.ip,
        validated.library_name,
        validated.library_version,
        validated.order_id,
        validated.product_id,
        validated.sku,
        validated.category,
        validated.price,
        validated.quantity,
        validated.revenue,
        validated.currency,
        validated.cart_id,
        validated.properties,
        validated.source_file,
        validated.source_line_number,
        validated.load_id,
        persons.email_input as email_raw,
        persons.is_email_invalid,
        persons.phone_input as phone_raw,
        persons.is_phone_invalid,
        persons.date_of_birth_input as date_of_birth_raw,
        persons.date_of_birth_issue,
        persons.oversized_values,
        persons.value_findings,
        validated.anonymous_id is not null or validated.user_id is not null as has_identity,
        validated.event_type_raw is null
        or coalesce(validated.event_type = 'track' and validated.track_event_raw is null, false)
            as is_required_key_missing,
        validated.event_type_raw,
        validated.event_type_raw is not null and validated.event_type is null as is_event_type_unknown,
        validated.device_type_raw,
        validated.device_type_raw is not null
        and validated.device_type is null as is_device_type_unknown,
        validated.event_at_raw,
        validated.event_at_issue
    from validated
    left join person_values as persons
        on
            validated.email_raw is not distinct from persons.email_raw
            and validated.phone_raw is not distinct from persons.phone_raw
            and validated.first_name_raw is not distinct from persons.first_name_raw
            and validated.last_name_raw is not distinct from persons.last_name_raw
            and validated.address_line1_raw is not distinct from persons.address_line1_raw
            and validated.address_line2_raw is not distinct from persons.address_line2_raw
            and validated.city_raw is not distinct from persons.city_raw
            and validated.postal_code_raw is not distinct from persons.postal_code_raw
            and validated.region_raw is not distinct from persons.region_raw
            and validated.country_raw is not distinct from persons.country_raw
            and validated.date_of_birth_raw is not distinct from persons.date_of_birth_raw
)

select * from final
