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

with

source as (
    -- incremental over dlt load ids: loads newer than the newest staged, plus rows staged with a date
    -- then in the future (a verdict of the build time). Sound because one Segment load runs at a time,
    -- dlt commits loads in load-id order and raw events are only added or replaced, never deleted.
    -- A change to a seed read here needs `--full-refresh -s stg_segment__events+`.
    select * from {{ customer360.source_if_loaded('segment', 'events') }} as loaded_events
    {% if is_incremental() %}
        where
            {{ customer360.load_id_to_timestamp('_dlt_load_id') }} > (
                select max(already_staged.loaded_at) from {{ this }} as already_staged
            )
            or message_id in (
                select already_staged.message_id
                from {{ this }} as already_staged
                where
                    already_staged.event_at_issue = 'future_date'
                    or already_staged.date_of_birth_issue = 'future_date'
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

renamed as {{ customer360.materialized_cte() }} (
    -- computed once: person_raw, codes, found_addresses and validated all read it
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
        {{ customer360.to_utc_timestamp('parsed.timestamp') }} as c360_event_at,
        coalesce(
            {{ customer360.json_text('parsed._invalid_timestamps', 'timestamp') }},
            cast(parsed.timestamp as {{ dbt.type_string() }})
        ) as event_at_raw,
        {{ customer360.to_utc_timestamp('parsed.sent_at') }} as sent_at,
        {{ customer360.to_utc_timestamp('parsed.received_at') }} as received_at,
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
),

person_raw as (
    -- one row per distinct tuple of raw person fields (most messages carry none, so this is small): the
    -- person CTEs and the seed lookups run on distinct values and are joined back by equality, because a
    -- lookup on the wide rows is a correlated subquery that copies every row per lookup (100k people:
    -- 20 GB buffered, 10 GB spilled)
    select distinct
        email_raw,
        phone_raw,
        first_name_raw,
        last_name_raw,
        address_line1_raw,
        address_line2_raw,
        city_raw,
        postal_code_raw,
        region_raw,
        country_raw,
        date_of_birth_raw,
        cast(null as date) as date_of_birth_parsed
    from renamed
),

person_inputs as (
    -- person values longer than var staging_max_text_length are nulled here, before any
    -- normalization, and described in oversized_values (the quarantine's value_too_long)
    select
        person_raw.*,
        {{ customer360.text_within_limit('person_raw.email_raw') }} as email_input,
        {{ customer360.text_within_limit('person_raw.phone_raw') }} as phone_input,
        {{ customer360.text_within_limit('person_raw.first_name_raw') }} as first_name_input,
        {{ customer360.text_within_limit('person_raw.last_name_raw') }} as last_name_input,
        {{ customer360.text_within_limit('person_raw.address_line1_raw') }} as address_line1_input,
        {{ customer360.text_within_limit('person_raw.address_line2_raw') }} as address_line2_input,
        {{ customer360.text_within_limit('person_raw.city_raw') }} as city_input,
        {{ customer360.text_within_limit('person_raw.postal_code_raw') }} as postal_code_input,
        {{ customer360.text_within_limit('person_raw.region_raw') }} as region_input,
        {{ customer360.text_within_limit('person_raw.country_raw') }} as country_input,
        {{ customer360.text_within_limit('person_raw.date_of_birth_raw') }} as date_of_birth_input,
        nullif(concat_ws(
            {{ customer360.oversized_values_separator() }},
            {{ customer360.oversized_value_entry('email', 'person_raw.email_raw') }},
            {{ customer360.oversized_value_entry('phone', 'person_raw.phone_raw') }},
            {{ customer360.oversized_value_entry('first_name', 'person_raw.first_name_raw') }},
            {{ customer360.oversized_value_entry('last_name', 'person_raw.last_name_raw') }},
            {{ customer360.oversized_value_entry('address_line1', 'person_raw.address_line1_raw') }},
            {{ customer360.oversized_value_entry('address_line2', 'person_raw.address_line2_raw') }},
            {{ customer360.oversized_value_entry('city', 'person_raw.city_raw') }},
            {{ customer360.oversized_value_entry('postal_code', 'person_raw.postal_code_raw') }},
            {{ customer360.oversized_value_entry('region', 'person_raw.region_raw') }},
            {{ customer360.oversized_value_entry('country', 'person_raw.country_raw') }},
            {{ customer360.oversized_value_entry('date_of_birth', 'person_raw.date_of_birth_raw') }}
        ), '') as oversized_values
    from person_raw
),

person_lookups as (
    -- each seed lookup once: the phone and the postal code need the country code, the email flags
    -- the corrected address
    select
        person_inputs.*,
        {{ customer360.normalize_email('person_inputs.email_input') }} as email_normalized,
        {{ customer360.country_iso2('person_inputs.country_input') }} as country_code,
        case
            when person_inputs.date_of_birth_input is not null then person_inputs.date_of_birth_parsed
        end as date_of_birth_read,
        {{ customer360.name_match_key('person_inputs.first_name_input') }} as first_name_key,
        {{ customer360.name_match_key('person_inputs.last_name_input') }} as last_name_key
    from person_inputs
),

person_columns as (
    -- a value that fails validation is nulled and flagged; the row stays
    select
        person_lookups.*,
        case
            when {{ customer360.is_valid_email('person_lookups.email_normalized') }}
                then person_lookups.email_normalized
        end as email,
        {{ customer360.email_match_key('person_lookups.email_normalized') }} as email_match_key,
        case
            when {{ customer360.is_valid_email('person_lookups.email_normalized') }}
                then coalesce({{ customer360.is_role_email('person_lookups.email_normalized') }}, false)
            else false
        end as is_role_email,
        coalesce(
            person_lookups.email_normalized is not null
            and not {{ customer360.is_valid_email('person_lookups.email_normalized') }},
            false
        ) as is_email_invalid,
        {{ customer360.normalize_phone_e164('person_lookups.phone_input', 'person_lookups.country_code') }}
            as phone_e164,
        coalesce(
            {{ customer360.clean_text('person_lookups.phone_input') }} is not null
            and {{ customer360.normalize_phone_e164('person_lookups.phone_input', 'person_lookups.country_code') }}
            is null,
            false
        ) as is_phone_invalid,
        {{ customer360.clean_name('person_lookups.first_name_input') }} as first_name,
        {{ customer360.clean_name('person_lookups.last_name_input') }} as last_name,
        coalesce(
            {{ customer360.seed_lookup(
                'given_name_nicknames', 'nickname', 'canonical_given_name', 'person_lookups.first_name_key'
            ) }},
            person_lookups.first_name_key
        ) as given_name_canonical,
        {{ customer360.date_of_birth_issue(
            'person_lookups.date_of_birth_input', 'person_lookups.date_of_birth_read'
        ) }} as date_of_birth_issue,
        {{ customer360.clean_name('person_lookups.address_line1_input') }} as address_line1,
        {{ customer360.clean_name('person_lookups.address_line2_input') }} as address_line2,
        {{ customer360.clean_name('person_lookups.city_input') }} as city,
        {{ customer360.normalize_postal_code('person_lookups.postal_code_input', 'person_lookups.country_code') }}
            as postal_code,
        coalesce(
            {{ customer360.region_code('person_lookups.region_input', 'person_lookups.country_code') }},
            {{ customer360.clean_text('person_lookups.region_input') }}
        ) as region_code,
        {{ customer360.value_findings(
            postal_code='person_lookups.postal_code_input',
            country='person_lookups.country_input',
            country_code='person_lookups.country_code',
            email='person_lookups.email_input',
            email_normalized='person_lookups.email_normalized'
        ) }} as value_findings
    from person_lookups
),

codes as (
    -- the seed lookups, once per distinct combination of the coded fields
    select
        distinct_codes.track_event_raw,
        distinct_codes.device_type_raw,
        distinct_codes.event_type_raw,
        distinct_codes.currency_raw,
        {{ customer360.email_consent_state('segment', 'distinct_codes.track_event_raw') }} as c360_consent_state,
        {{ customer360.seed_lookup(
            'enum_device_types', 'source_value', 'device_type', 'distinct_codes.device_type_raw'
        ) }} as device_type,
        {{ customer360.seed_lookup(
            'enum_segment_event_types', 'source_value', 'event_type', 'distinct_codes.event_type_raw'
        ) }} as event_type,
        {{ customer360.currency_code('distinct_codes.currency_raw') }} as currency
    from (
        select distinct
            track_event_raw,
            device_type_raw,
            event_type_raw,
            currency_raw
        from renamed
    ) as distinct_codes
),

found_addresses as (
    select
        distinct_addresses.address_found_raw,
        {{ customer360.normalize_email('distinct_addresses.address_found_raw') }} as email_from_any_field
    from (
        select distinct address_found_raw
        from renamed
        where address_found_raw is not null
    ) as distinct_addresses
),

validated as (
    select
        renamed.*,
        {{ customer360.timestamp_issue('renamed.event_at_raw', 'renamed.c360_event_at') }} as event_at_issue,
        codes.c360_consent_state,
        codes.device_type,
        codes.event_type,
        codes.currency,
        found_addresses.email_from_any_field
    from renamed
    left join codes
        on
            renamed.track_event_raw is not distinct from codes.track_event_raw
            and renamed.device_type_raw is not distinct from codes.device_type_raw
            and renamed.event_type_raw is not distinct from codes.event_type_raw
            and renamed.currency_raw is not distinct from codes.currency_raw
    left join found_addresses on renamed.address_found_raw = found_addresses.address_found_raw
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
        case when persons.date_of_birth_issue is null then persons.date_of_birth_read end as date_of_birth,
        persons.address_line1,
        persons.address_line2,
        persons.city,
        persons.postal_code,
        persons.region_code,
        persons.country_code,
        coalesce(validated.c360_consent_state, 'unknown') as email_consent_state,
        case
            when validated.c360_consent_state is not null and validated.event_at_issue is null
                then validated.c360_event_at
        end as email_consent_updated_at,
        {#- An event is created and last updated when it happens. -#}
        case when validated.event_at_issue is null then validated.c360_event_at end as source_created_at,
        case when validated.event_at_issue is null then validated.c360_event_at end as source_updated_at,
        validated.loaded_at,
        case when validated.event_at_issue is null then validated.c360_event_at end as event_at,
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
    left join person_columns as persons
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
