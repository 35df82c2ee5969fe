{#
    One row per Segment message (identify, page, track), every message kept: one without any identity
    still counts as web activity, it is flagged (has_identity = false) and has no source_record_id.
    Person columns come from identify traits and from the email events' properties.email_address.
    The source record is the device (`anonymous:<anonymousId>`), else the logged-in user
    (`user:<userId>`) for messages sent with a userId only.
#}
with

source as (
    select * from {{ source('segment', 'events') }}
),

renamed as (
    select
        source.message_id,
        lower({{ customer360.blank_to_null('source.type') }}) as event_type,
        {{ customer360.blank_to_null('source.event') }} as track_event_raw,
        {{ customer360.blank_to_null('source.name') }} as page_name_raw,
        {{ customer360.blank_to_null('source.anonymous_id') }} as anonymous_id,
        {{ customer360.blank_to_null('source.user_id') }} as user_id,
        coalesce(
            {{ customer360.blank_to_null(customer360.json_text('source.traits', 'email')) }},
            {{ customer360.blank_to_null(customer360.json_text('source.properties', 'email_address')) }}
        ) as email_raw,
        {{ customer360.json_text('source.traits', 'phone') }} as phone_raw,
        coalesce(
            {{ customer360.json_text('source.traits', 'first_name') }},
            {{ customer360.json_text('source.traits', 'firstName') }}
        ) as first_name_raw,
        coalesce(
            {{ customer360.json_text('source.traits', 'last_name') }},
            {{ customer360.json_text('source.traits', 'lastName') }}
        ) as last_name_raw,
        {{ customer360.json_text('source.traits', 'address.street') }} as address_line1_raw,
        cast(null as {{ dbt.type_string() }}) as address_line2_raw,
        {{ customer360.json_text('source.traits', 'address.city') }} as city_raw,
        coalesce(
            {{ customer360.json_text('source.traits', 'address.postal_code') }},
            {{ customer360.json_text('source.traits', 'address.postalCode') }}
        ) as postal_code_raw,
        {{ customer360.json_text('source.traits', 'address.state') }} as region_raw,
        {{ customer360.json_text('source.traits', 'address.country') }} as country_raw,
        cast(null as {{ dbt.type_string() }}) as date_of_birth_raw,
        {{ customer360.to_utc_timestamp('source.timestamp') }} as c360_event_at,
        coalesce(
            {{ customer360.json_text('source._invalid_timestamps', 'timestamp') }},
            cast(source.timestamp as {{ dbt.type_string() }})
        ) as event_at_raw,
        {{ customer360.to_utc_timestamp('source.sent_at') }} as sent_at,
        {{ customer360.to_utc_timestamp('source.received_at') }} as received_at,
        {{ customer360.json_text('source.context', 'page.url') }} as page_url,
        {{ customer360.json_text('source.context', 'page.path') }} as page_path,
        {{ customer360.json_text('source.context', 'page.referrer') }} as page_referrer,
        {{ customer360.json_text('source.context', 'page.title') }} as page_title,
        {{ customer360.json_text('source.context', 'page.search') }} as page_search,
        {{ customer360.json_text('source.context', 'campaign.source') }} as campaign_source,
        {{ customer360.json_text('source.context', 'campaign.medium') }} as campaign_medium,
        {{ customer360.json_text('source.context', 'campaign.name') }} as campaign_name,
        lower({{ customer360.blank_to_null(customer360.json_text('source.context', 'device.type')) }}) as device_type_raw,
        {{ customer360.json_text('source.context', 'userAgent') }} as user_agent,
        {{ customer360.json_text('source.context', 'ip') }} as ip,
        {{ customer360.json_text('source.context', 'library.name') }} as library_name,
        {{ customer360.json_text('source.context', 'library.version') }} as library_version,
        {{ customer360.json_text('source.properties', 'order_id') }} as order_id,
        {{ customer360.json_text('source.properties', 'product_id') }} as product_id,
        {{ customer360.json_text('source.properties', 'sku') }} as sku,
        {{ customer360.json_text('source.properties', 'category') }} as category,
        {{ customer360.to_money(customer360.json_text('source.properties', 'price')) }} as price,
        {{ customer360.safe_integer(customer360.json_text('source.properties', 'quantity')) }} as quantity,
        {{ customer360.to_money(
            'coalesce(' ~ customer360.json_text('source.properties', 'revenue') ~ ', '
            ~ customer360.json_text('source.properties', 'total') ~ ', '
            ~ customer360.json_text('source.properties', 'value') ~ ')'
        ) }} as revenue,
        {{ customer360.currency_code(customer360.json_text('source.properties', 'currency')) }} as currency,
        coalesce(
            {{ customer360.json_text('source.properties', 'cart_id') }},
            {{ customer360.json_text('source.properties', 'checkout_id') }}
        ) as cart_id,
        source.properties,
        source.traits,
        source._source_file as source_file,
        source._line_number as source_line_number,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
),

{{ customer360.staging_person_ctes('renamed') }},

final as (
    select
        'segment' as source_system,
        case
            when person_columns.anonymous_id is not null
                then {{ dbt.concat(["'anonymous:'", 'person_columns.anonymous_id']) }}
            when person_columns.user_id is not null then {{ dbt.concat(["'user:'", 'person_columns.user_id']) }}
        end as source_record_id,
        person_columns.message_id,
        person_columns.anonymous_id,
        person_columns.user_id,
        person_columns.event_type,
        case
            when person_columns.event_type = 'track' then person_columns.track_event_raw
            when person_columns.event_type = 'page' then person_columns.page_name_raw
        end as event_name,
        {{ customer360.staging_person_column_list('person_columns') }},
        coalesce(
            {{ customer360.email_consent_state('segment', 'person_columns.track_event_raw') }}, 'unknown'
        ) as email_consent_state,
        case
            when {{ customer360.email_consent_state('segment', 'person_columns.track_event_raw') }} is not null
                then person_columns.c360_event_at
        end as email_consent_updated_at,
        {#- An event is created and last updated when it happens. -#}
        case
            when {{ customer360.timestamp_issue('person_columns.event_at_raw', 'person_columns.c360_event_at') }} is null
                then person_columns.c360_event_at
        end as source_created_at,
        case
            when {{ customer360.timestamp_issue('person_columns.event_at_raw', 'person_columns.c360_event_at') }} is null
                then person_columns.c360_event_at
        end as source_updated_at,
        person_columns.loaded_at,
        case
            when {{ customer360.timestamp_issue('person_columns.event_at_raw', 'person_columns.c360_event_at') }} is null
                then person_columns.c360_event_at
        end as event_at,
        person_columns.sent_at,
        person_columns.received_at,
        person_columns.page_url,
        person_columns.page_path,
        person_columns.page_referrer,
        person_columns.page_title,
        person_columns.page_search,
        person_columns.campaign_source,
        person_columns.campaign_medium,
        person_columns.campaign_name,
        {{ customer360.seed_lookup('enum_device_types', 'source_value', 'device_type', 'person_columns.device_type_raw') }}
            as device_type,
        person_columns.user_agent,
        person_columns.ip,
        person_columns.library_name,
        person_columns.library_version,
        person_columns.order_id,
        person_columns.product_id,
        person_columns.sku,
        person_columns.category,
        person_columns.price,
        person_columns.quantity,
        person_columns.revenue,
        person_columns.currency,
        person_columns.cart_id,
        person_columns.properties,
        person_columns.source_file,
        person_columns.source_line_number,
        person_columns.load_id,
        {{ customer360.staging_person_quality_columns('person_columns') }},
        person_columns.anonymous_id is not null or person_columns.user_id is not null as has_identity,
        person_columns.event_type is null
        or (person_columns.event_type = 'track' and person_columns.track_event_raw is null) as is_required_key_missing,
        person_columns.device_type_raw,
        person_columns.device_type_raw is not null
        and {{ customer360.seed_lookup(
            'enum_device_types', 'source_value', 'device_type', 'person_columns.device_type_raw'
        ) }} is null as is_device_type_unknown,
        person_columns.event_at_raw,
        {{ customer360.timestamp_issue('person_columns.event_at_raw', 'person_columns.c360_event_at') }} as event_at_issue
    from person_columns
)

select * from final
