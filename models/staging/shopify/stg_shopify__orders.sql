{#
    One row per Shopify order, guest checkouts included. Person columns come from the order's email
    and phone and its shipping address (billing address, then the account's names, as fallbacks), so
    a guest checkout is a source record of its own (`order:<id>`); an account's order belongs to the
    account's record (`customer:<id>`). Money is decimal in the order's ISO 4217 currency.

    The order-total rule (total = line items - discounts + tax + shipping) needs the line items, so
    it is checked in int_quality__quarantine, not here.
#}
{%- set amounts = ['subtotal_price', 'total_discounts', 'total_tax', 'total_shipping', 'total_price'] %}
with

source as (
    -- deleted orders, and every order of a deleted or redacted customer (issue 11), leave staging
    select * from {{ customer360.source_if_loaded('shopify', 'orders') }}
    where not {{ customer360.shopify_order_is_deleted('id', 'customer__id') }}
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
        {{ customer360.to_utc_timestamp('source.created_at') }} as c360_created_at,
        {{ customer360.to_utc_timestamp('source.updated_at') }} as source_updated_at,
        {{ customer360.to_utc_timestamp('source.processed_at') }} as processed_at,
        {{ customer360.to_utc_timestamp('source.cancelled_at') }} as cancelled_at,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
),

{{ customer360.staging_person_ctes('renamed') }},

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
        {{ customer360.staging_person_column_list('validated') }},
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
        {{ customer360.staging_person_quality_columns('validated') }},
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
