{#
    One row per Shopify customer account, in the shared person vocabulary. Person columns come from
    the account (email, names, phone) and its default address.
#}
with

deleted as (
    -- customers/delete and customers/redact (issue 11): a deleted or redacted person leaves staging
    select record_id from {{ customer360.source_if_loaded('shopify', 'deleted_records') }}
    where record_type = 'customer'
),

source as (
    select * from {{ customer360.source_if_loaded('shopify', 'customers') }}
    where id not in (select deleted.record_id from deleted)
),

renamed as (
    select
        cast(source.id as {{ dbt.type_string() }}) as customer_id,
        source.email as email_raw,
        coalesce(
            {{ customer360.blank_to_null('source.phone') }},
            {{ customer360.blank_to_null('source.default_address__phone') }}
        ) as phone_raw,
        coalesce(
            {{ customer360.blank_to_null('source.first_name') }},
            {{ customer360.blank_to_null('source.default_address__first_name') }}
        ) as first_name_raw,
        coalesce(
            {{ customer360.blank_to_null('source.last_name') }},
            {{ customer360.blank_to_null('source.default_address__last_name') }}
        ) as last_name_raw,
        source.default_address__address1 as address_line1_raw,
        source.default_address__address2 as address_line2_raw,
        source.default_address__city as city_raw,
        source.default_address__zip as postal_code_raw,
        coalesce(
            {{ customer360.blank_to_null('source.default_address__province_code') }},
            {{ customer360.blank_to_null('source.default_address__province') }}
        ) as region_raw,
        coalesce(
            {{ customer360.blank_to_null('source.default_address__country_code') }},
            {{ customer360.blank_to_null('source.default_address__country') }}
        ) as country_raw,
        cast(null as {{ dbt.type_string() }}) as date_of_birth_raw,
        {{ customer360.blank_to_null('source.email_marketing_consent__state') }} as email_consent_state_raw,
        {{ customer360.blank_to_null('source.email_marketing_consent__opt_in_level') }} as email_opt_in_level,
        {{ customer360.to_utc_timestamp('source.email_marketing_consent__consent_updated_at') }}
            as email_consent_updated_at,
        {{ customer360.blank_to_null('source.sms_marketing_consent__state') }} as sms_consent_state,
        {{ customer360.blank_to_null('source.state') }} as account_state,
        source.verified_email as is_email_verified,
        {{ customer360.blank_to_null('source.currency') }} as currency_raw,
        {{ customer360.currency_code('source.currency') }} as currency,
        {{ customer360.clean_text('source.tags') }} as tags,
        source.orders_count,
        {{ customer360.to_money('source.total_spent') }} as c360_total_spent,
        cast(source.created_at as {{ dbt.type_string() }}) as source_created_at_raw,
        {{ customer360.to_utc_timestamp('source.created_at') }} as c360_created_at,
        {{ customer360.to_utc_timestamp('source.updated_at') }} as source_updated_at,
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
        {{ customer360.email_consent_state('shopify', 'person_columns.email_consent_state_raw') }} as c360_consent_state
    from person_columns
),

final as (
    select
        'shopify' as source_system,
        {{ dbt.concat(["'customer:'", 'validated.customer_id']) }} as source_record_id,
        validated.customer_id,
        {{ customer360.staging_person_column_list('validated') }},
        {#- Consent fails closed: a state the seed does not know is read as an opt-out (and quarantined
            as unknown_enum); only a missing state says nothing. -#}
        case
            when validated.c360_consent_state is not null then validated.c360_consent_state
            when validated.email_consent_state_raw is not null then 'opted_out'
            else 'unknown'
        end as email_consent_state,
        validated.email_consent_updated_at,
        case
            when validated.source_created_at_issue is null then validated.c360_created_at
        end as source_created_at,
        validated.source_updated_at,
        validated.loaded_at,
        validated.email_opt_in_level,
        validated.sms_consent_state,
        validated.account_state,
        validated.is_email_verified,
        validated.currency,
        validated.tags,
        validated.orders_count,
        case when validated.c360_total_spent >= 0 then validated.c360_total_spent end as total_spent,
        validated.load_id,
        {{ customer360.staging_person_quality_columns('validated') }},
        validated.email_consent_state_raw,
        validated.email_consent_state_raw is not null
        and validated.c360_consent_state is null as is_email_consent_state_unknown,
        case
            when validated.c360_total_spent < 0
                then {{ dbt.concat([
                    "'total_spent='", 'cast(validated.c360_total_spent as ' ~ dbt.type_string() ~ ')'
                ]) }}
        end as negative_amount,
        validated.source_created_at_raw,
        validated.source_created_at_issue,
        validated.currency_raw,
        {#- an unknown code is nulled (quarantined as unknown_enum); a customer without one is fine -#}
        validated.currency_raw is not null and validated.currency is null as is_currency_unknown
    from validated
)

select * from final
