{%- set json_paths = {
    'context': [
        'traits.email', 'page.url', 'page.path', 'page.referrer', 'page.title', 'page.search',
        'campaign.source', 'campaign.medium', 'campaign.name', 'device.type', 'userAgent', 'ip',
        'library.name', 'library.version'
    ],
    'properties': [
        'email_address', 'email', 'order_id', 'product_id', 'sku', 'category', 'price', 'quantity',
        'revenue', 'total', 'value', 'currency', 'cart_id', 'checkout_id'
    ],
    'traits': [
        'email', 'phone', 'first_name', 'firstName', 'last_name', 'lastName', 'address.street',
        'address.city', 'address.postal_code', 'address.postalCode', 'address.state', 'address.country'
    ]
} -%}

{%- set raw_types = customer360.source_column_types('segment', 'events') -%}
with

source as (
    -- incremental over dlt load ids: only loads newer than the newest parsed. Sound because one Segment
    -- load runs at a time, dlt commits loads in load-id order and raw events are only added or replaced
    -- (a replaced event comes back with its new load id), never deleted. The parse reads no seed, var
    -- or clock, so a parsed row never needs redoing.
    select * from {{ customer360.source_if_loaded('segment', 'events') }} as loaded_events
    {% if is_incremental() %}
        where
            {{ customer360.load_id_to_timestamp('_dlt_load_id') }} > (
                select max(already_parsed.loaded_at) from {{ this }} as already_parsed
            )
            or not exists (select 1 from {{ this }})
    {% endif %}
),

parsed as (
    -- each JSON column parsed once per row (json_texts) into the list of its fields in json_paths, above
    select
        source.*,
        {{ customer360.json_texts('source.context', json_paths.context) }} as context_values,
        {{ customer360.json_texts('source.properties', json_paths.properties) }} as properties_values,
        {{ customer360.json_texts('source.traits', json_paths.traits) }} as traits_values
    from source
),

final as (
    select
        parsed.message_id,
        lower({{ customer360.blank_to_null('parsed.type') }}) as event_type_raw,
        {{ customer360.blank_to_null('parsed.event') }} as track_event_raw,
        {{ customer360.blank_to_null('parsed.name') }} as page_name_raw,
        {{ customer360.blank_to_null('parsed.anonymous_id') }} as anonymous_id,
        {{ customer360.blank_to_null('parsed.user_id') }} as user_id,
        {#- Segment's spec puts an address in traits (identify), in context.traits (any call) or in
            an email event's properties: an unsubscribe sent without ids still names its address. -#}
        coalesce(
            {{ customer360.blank_to_null(customer360.json_pick('parsed', json_paths, 'traits', 'email')) }},
            {{ customer360.blank_to_null(customer360.json_pick('parsed', json_paths, 'properties', 'email_address')) }},
            {{ customer360.blank_to_null(customer360.json_pick('parsed', json_paths, 'properties', 'email')) }},
            {{ customer360.blank_to_null(customer360.json_pick('parsed', json_paths, 'context', 'traits.email')) }}
        ) as email_raw,
        {#- For consent only: the first address found in any of those fields, whatever surrounds it
            ("Jane <jane@x.com>", a placeholder in one field and the address in another, invisible
            characters). An unsubscribe must reach its address even when the field is messy. -#}
        {{ customer360.regex_extract_first(customer360.guard_readable_text(dbt.concat([
            "coalesce(" ~ customer360.json_pick('parsed', json_paths, 'properties', 'email_address') ~ ", '')", "' '",
            "coalesce(" ~ customer360.json_pick('parsed', json_paths, 'properties', 'email') ~ ", '')", "' '",
            "coalesce(" ~ customer360.json_pick('parsed', json_paths, 'traits', 'email') ~ ", '')", "' '",
            "coalesce(" ~ customer360.json_pick('parsed', json_paths, 'context', 'traits.email') ~ ", '')"
        ])), '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}') }} as address_found_raw,
        {{ customer360.json_pick('parsed', json_paths, 'traits', 'phone') }} as phone_raw,
        coalesce(
            {{ customer360.json_pick('parsed', json_paths, 'traits', 'first_name') }},
            {{ customer360.json_pick('parsed', json_paths, 'traits', 'firstName') }}
        ) as first_name_raw,
        coalesce(
            {{ customer360.json_pick('parsed', json_paths, 'traits', 'last_name') }},
            {{ customer360.json_pick('parsed', json_paths, 'traits', 'lastName') }}
        ) as last_name_raw,
        {{ customer360.json_pick('parsed', json_paths, 'traits', 'address.street') }} as address_line1_raw,
        cast(null as {{ dbt.type_string() }}) as address_line2_raw,
        {{ customer360.json_pick('parsed', json_paths, 'traits', 'address.city') }} as city_raw,
        coalesce(
            {{ customer360.json_pick('parsed', json_paths, 'traits', 'address.postal_code') }},
            {{ customer360.json_pick('parsed', json_paths, 'traits', 'address.postalCode') }}
        ) as postal_code_raw,
        {{ customer360.json_pick('parsed', json_paths, 'traits', 'address.state') }} as region_raw,
        {{ customer360.json_pick('parsed', json_paths, 'traits', 'address.country') }} as country_raw,
        cast(null as {{ dbt.type_string() }}) as date_of_birth_raw,
        {{ customer360.to_utc_timestamp('parsed.timestamp', raw_types.get('timestamp')) }} as event_at_parsed,
        coalesce(
            {{ customer360.json_text('parsed._invalid_timestamps', 'timestamp') }},
            cast(parsed.timestamp as {{ dbt.type_string() }})
        ) as event_at_raw,
        {{ customer360.to_utc_timestamp('parsed.sent_at', raw_types.get('sent_at')) }} as sent_at,
        {{ customer360.to_utc_timestamp('parsed.received_at', raw_types.get('received_at')) }} as received_at,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'page.url') }} as page_url,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'page.path') }} as page_path,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'page.referrer') }} as page_referrer,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'page.title') }} as page_title,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'page.search') }} as page_search,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'campaign.source') }} as campaign_source,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'campaign.medium') }} as campaign_medium,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'campaign.name') }} as campaign_name,
        lower(
            {{ customer360.blank_to_null(customer360.json_pick('parsed', json_paths, 'context', 'device.type')) }}
        ) as device_type_raw,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'userAgent') }} as user_agent,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'ip') }} as ip,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'library.name') }} as library_name,
        {{ customer360.json_pick('parsed', json_paths, 'context', 'library.version') }} as library_version,
        {{ customer360.json_pick('parsed', json_paths, 'properties', 'order_id') }} as order_id,
        {{ customer360.json_pick('parsed', json_paths, 'properties', 'product_id') }} as product_id,
        {{ customer360.json_pick('parsed', json_paths, 'properties', 'sku') }} as sku,
        {{ customer360.json_pick('parsed', json_paths, 'properties', 'category') }} as category,
        {{ customer360.to_money(customer360.json_pick('parsed', json_paths, 'properties', 'price')) }} as price,
        {{ customer360.safe_integer(
            customer360.json_pick('parsed', json_paths, 'properties', 'quantity')
        ) }} as quantity,
        {{ customer360.to_money(
            'coalesce(' ~ customer360.json_pick('parsed', json_paths, 'properties', 'revenue') ~ ', '
            ~ customer360.json_pick('parsed', json_paths, 'properties', 'total') ~ ', '
            ~ customer360.json_pick('parsed', json_paths, 'properties', 'value') ~ ')'
        ) }} as revenue,
        {{ customer360.json_pick('parsed', json_paths, 'properties', 'currency') }} as currency_raw,
        coalesce(
            {{ customer360.json_pick('parsed', json_paths, 'properties', 'cart_id') }},
            {{ customer360.json_pick('parsed', json_paths, 'properties', 'checkout_id') }}
        ) as cart_id,
        parsed.properties,
        parsed._source_file as source_file,
        parsed._line_number as source_line_number,
        parsed._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('parsed._dlt_load_id') }} as loaded_at
    from parsed
)

select * from final
