{%- set amounts = ['subtotal_price', 'total_discounts', 'total_tax', 'total_shipping', 'total_price'] %}
{%- set raw_types = customer360.source_column_types('shopify', 'orders') -%}
with

live_orders as (
    -- deleted orders, and every order of a deleted or redacted customer (issue 11), leave staging
    {{ customer360.shopify_live_orders() }}
),

source as (
    -- incremental over dlt loads (macros/staging/incremental_staging.sql): new loads, live orders not
    -- staged yet and rows staged with a future date; orders no longer live leave by the post-hook
    select * from live_orders
    {% if is_incremental() %}
        where {{ customer360.staged_rows_to_redo(
            'cast(id as ' ~ dbt.type_string() ~ ')', 'already_staged.order_id',
            ['date_of_birth_issue', 'source_created_at_issue']
        ) }}
    {% endif %}
),

renamed as (
    select
        cast(source.id as {{ dbt.type_string() }}) as order_id,
        {{ customer360.clean_text('source.name') }} as order_name,
        cast(source.customer__id as {{ dbt.type_string() }}) as customer_id,
        source.customer__id is null as is_guest_checkout,
        coalesce(
            {{ customer360.blank_to_null('source.email') }},
            {{ customer360.blank_to_null('source.customer__email') }}
        ) as email_raw,
        coalesce(
            {{ customer360.blank_to_null('source.phone') }},
            {{ customer360.blank_to_null('source.shipping_address__phone') }}
        ) as phone_raw,
        coalesce(
            {{ customer360.blank_to_null('source.shipping_address__first_name') }},
            {{ customer360.blank_to_null('source.billing_address__first_name') }},
            {{ customer360.blank_to_null('source.customer__first_name') }}
        ) as first_name_raw,
        coalesce(
            {{ customer360.blank_to_null('source.shipping_address__last_name') }},
            {{ customer360.blank_to_null('source.billing_address__last_name') }},
            {{ customer360.blank_to_null('source.customer__last_name') }}
        ) as last_name_raw,
        source.shipping_address__address1 as address_line1_raw,
        source.shipping_address__address2 as address_line2_raw,
        source.shipping_address__city as city_raw,
        source.shipping_address__zip as postal_code_raw,
        coalesce(
            {{ customer360.blank_to_null('source.shipping_address__province_code') }},
            {{ customer360.blank_to_null('source.shipping_address__province') }}
        ) as region_raw,
        coalesce(
            {{ customer360.blank_to_null('source.shipping_address__country_code') }},
            {{ customer360.blank_to_null('source.shipping_address__country') }}
        ) as country_raw,
        cast(null as {{ dbt.type_string() }}) as date_of_birth_raw,
        cast(null as date) as date_of_birth_parsed,
        source.buyer_accepts_marketing,
        {{ customer360.blank_to_null('source.currency') }} as currency_raw,
        {{ customer360.currency_code('source.currency') }} as currency,
        {{ customer360.blank_to_null('source.financial_status') }} as financial_status_raw,
        {{ customer360.blank_to_null('source.fulfillment_status') }} as fulfillment_status_raw,
        {{ customer360.to_money('source.subtotal_price') }} as c360_subtotal_price,
        {{ customer360.to_money('source.total_discounts') }} as c360_total_discounts,
        {{ customer360.to_money('source.total_tax') }} as c360_total_tax,
        {{ customer360.to_money('source.total_shipping_price_set__shop_money__amount') }} as c360_total_shipping,
        {{ customer360.to_money('source.total_price') }} as c360_total_price,
        source.landing_site,
        cast(source.created_at as {{ dbt.type_string() }}) as source_created_at_raw,
        {{ customer360.to_utc_timestamp('source.created_at', raw_types.get('created_at')) }} as c360_created_at,
        {{ customer360.to_utc_timestamp('source.updated_at', raw_types.get('updated_at')) }} as source_updated_at,
        {{ customer360.to_utc_timestamp('source.processed_at', raw_types.get('processed_at')) }} as processed_at,
        {{ customer360.to_utc_timestamp('source.cancelled_at', raw_types.get('cancelled_at')) }} as cancelled_at,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
),

person_inputs as (
    -- person values longer than var staging_max_text_length are nulled here, before any
    -- normalization, and described in oversized_values (the quarantine's value_too_long)
    select
        renamed.*,
        {{ customer360.text_within_limit('renamed.email_raw') }} as email_input,
        {{ customer360.text_within_limit('renamed.phone_raw') }} as phone_input,
        {{ customer360.text_within_limit('renamed.first_name_raw') }} as first_name_input,
        {{ customer360.text_within_limit('renamed.last_name_raw') }} as last_name_input,
        {{ customer360.text_within_limit('renamed.address_line1_raw') }} as address_line1_input,
        {{ customer360.text_within_limit('renamed.address_line2_raw') }} as address_line2_input,
        {{ customer360.text_within_limit('renamed.city_raw') }} as city_input,
        {{ customer360.text_within_limit('renamed.postal_code_raw') }} as postal_code_input,
        {{ customer360.text_within_limit('renamed.region_raw') }} as region_input,
        {{ customer360.text_within_limit('renamed.country_raw') }} as country_input,
        {{ customer360.text_within_limit('renamed.date_of_birth_raw') }} as date_of_birth_input,
        nullif(concat_ws(
            {{ customer360.oversized_values_separator() }},
            {{ customer360.oversized_value_entry('email', 'renamed.email_raw') }},
            {{ customer360.oversized_value_entry('phone', 'renamed.phone_raw') }},
            {{ customer360.oversized_value_entry('first_name', 'renamed.first_name_raw') }},
            {{ customer360.oversized_value_entry('last_name', 'renamed.last_name_raw') }},
            {{ customer360.oversized_value_entry('address_line1', 'renamed.address_line1_raw') }},
            {{ customer360.oversized_value_entry('address_line2', 'renamed.address_line2_raw') }},
            {{ customer360.oversized_value_entry('city', 'renamed.city_raw') }},
            {{ customer360.oversized_value_entry('postal_code', 'renamed.postal_code_raw') }},
            {{ customer360.oversized_value_entry('region', 'renamed.region_raw') }},
            {{ customer360.oversized_value_entry('country', 'renamed.country_raw') }},
            {{ customer360.oversized_value_entry('date_of_birth', 'renamed.date_of_birth_raw') }}
        ), '') as oversized_values
    from renamed
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

person_checks as (
    -- what the columns below read more than once, computed once: whether the normalized address is valid,
    -- the phone and the postal code as staged (each written out again where it was read made the rendered
    -- SQL of this step several times longer)
    select
        person_lookups.*,
        {{ customer360.is_valid_email('person_lookups.email_normalized') }} as is_email_normalized_valid,
        {{ customer360.normalize_phone_e164('person_lookups.phone_input', 'person_lookups.country_code') }}
            as phone_normalized,
        {{ customer360.normalize_postal_code('person_lookups.postal_code_input', 'person_lookups.country_code') }}
            as postal_code_normalized
    from person_lookups
),

person_columns as (
    -- a value that fails validation is nulled and flagged; the row stays
    select
        person_checks.*,
        case
            when person_checks.is_email_normalized_valid then person_checks.email_normalized
        end as email,
        {{ customer360.email_match_key('person_checks.email_normalized') }} as email_match_key,
        case
            when person_checks.is_email_normalized_valid
                then coalesce({{ customer360.is_role_email('person_checks.email_normalized') }}, false)
            else false
        end as is_role_email,
        coalesce(
            person_checks.email_normalized is not null and not person_checks.is_email_normalized_valid, false
        ) as is_email_invalid,
        person_checks.phone_normalized as phone_e164,
        coalesce(
            {{ customer360.clean_text('person_checks.phone_input') }} is not null
            and person_checks.phone_normalized is null,
            false
        ) as is_phone_invalid,
        {{ customer360.clean_name('person_checks.first_name_input') }} as first_name,
        {{ customer360.clean_name('person_checks.last_name_input') }} as last_name,
        coalesce(
            {{ customer360.seed_lookup(
                'given_name_nicknames', 'nickname', 'canonical_given_name', 'person_checks.first_name_key'
            ) }},
            person_checks.first_name_key
        ) as given_name_canonical,
        {{ customer360.date_of_birth_issue(
            'person_checks.date_of_birth_input', 'person_checks.date_of_birth_read'
        ) }} as date_of_birth_issue,
        {{ customer360.clean_name('person_checks.address_line1_input') }} as address_line1,
        {{ customer360.clean_name('person_checks.address_line2_input') }} as address_line2,
        {{ customer360.clean_name('person_checks.city_input') }} as city,
        person_checks.postal_code_normalized as postal_code,
        coalesce(
            {{ customer360.region_code('person_checks.region_input', 'person_checks.country_code') }},
            {{ customer360.clean_text('person_checks.region_input') }}
        ) as region_code,
        {{ customer360.value_findings(
            postal_code='person_checks.postal_code_input',
            country='person_checks.country_input',
            country_code='person_checks.country_code',
            email='person_checks.email_input',
            email_normalized='person_checks.email_normalized',
            postal_code_normalized='person_checks.postal_code_normalized',
            is_email_normalized_valid='person_checks.is_email_normalized_valid'
        ) }} as value_findings
    from person_checks
),

validated as (
    select
        person_columns.*,
        {{ customer360.timestamp_issue(
            'person_columns.source_created_at_raw', 'person_columns.c360_created_at'
        ) }} as source_created_at_issue,
        {{ customer360.seed_lookup(
            'enum_order_financial_statuses', 'source_value', 'financial_status',
            'lower(person_columns.financial_status_raw)'
        ) }} as financial_status,
        {#- Shopify sends null for an order nothing of which has shipped yet. -#}
        {{ customer360.seed_lookup(
            'enum_order_fulfillment_statuses', 'source_value', 'fulfillment_status',
            "coalesce(lower(person_columns.fulfillment_status_raw), 'unfulfilled')"
        ) }} as fulfillment_status
    from person_columns
),

final as (
    select
        'shopify' as source_system,
        case
            when validated.is_guest_checkout then {{ dbt.concat(["'order:'", 'validated.order_id']) }}
            else {{ dbt.concat(["'customer:'", 'validated.customer_id']) }}
        end as source_record_id,
        validated.order_id,
        validated.order_name,
        validated.customer_id,
        validated.is_guest_checkout,
        validated.email,
        validated.email_match_key,
        validated.is_role_email,
        validated.phone_e164,
        validated.first_name,
        validated.last_name,
        validated.first_name_key,
        validated.last_name_key,
        validated.given_name_canonical,
        case when validated.date_of_birth_issue is null then validated.date_of_birth_read end as date_of_birth,
        validated.address_line1,
        validated.address_line2,
        validated.city,
        validated.postal_code,
        validated.region_code,
        validated.country_code,
        {#- Shopify's checkout checkbox ("email me with news and offers") is an explicit opt-in; an
            unticked box is no decision, not an opt-out. -#}
        case when validated.buyer_accepts_marketing then 'opted_in' else 'unknown' end as email_consent_state,
        case when validated.buyer_accepts_marketing then validated.c360_created_at end
            as email_consent_updated_at,
        case
            when validated.source_created_at_issue is null then validated.c360_created_at
        end as source_created_at,
        validated.source_updated_at,
        validated.loaded_at,
        validated.processed_at,
        validated.cancelled_at,
        validated.cancelled_at is not null as is_cancelled,
        validated.buyer_accepts_marketing,
        validated.currency,
        validated.financial_status,
        validated.fulfillment_status,
        {% for amount in amounts %}
            case when validated.c360_{{ amount }} >= 0 then validated.c360_{{ amount }} end as {{ amount }},
        {% endfor %}
        validated.landing_site,
        validated.load_id,
        {{ customer360.staged_lookups_fingerprint() }} as lookups_fingerprint,
        validated.email_input as email_raw,
        validated.is_email_invalid,
        validated.phone_input as phone_raw,
        validated.is_phone_invalid,
        validated.date_of_birth_input as date_of_birth_raw,
        validated.date_of_birth_issue,
        validated.oversized_values,
        validated.value_findings,
        validated.financial_status_raw,
        validated.financial_status_raw is not null and validated.financial_status is null
            as is_financial_status_unknown,
        validated.fulfillment_status_raw,
        validated.fulfillment_status is null as is_fulfillment_status_unknown,
        {#- The first negative amount, as "field=value", for the quarantine; null when none is. -#}
        case
            {% for amount in amounts %}
                when validated.c360_{{ amount }} < 0
                    then {{ dbt.concat([
                        "'" ~ amount ~ "='", 'cast(validated.c360_' ~ amount ~ ' as ' ~ dbt.type_string() ~ ')'
                    ]) }}
            {% endfor %}
        end as negative_amount,
        validated.currency_raw,
        case
            when validated.currency_raw is null then 'missing_required_key'
            when validated.currency is null then 'unknown_enum'
        end as currency_issue,
        validated.source_created_at_raw,
        validated.source_created_at_issue
    from validated
)

select * from final
