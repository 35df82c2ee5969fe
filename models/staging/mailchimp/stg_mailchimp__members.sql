{%- set raw_members = source('mailchimp', 'members') -%}
{%- set raw_exists = execute and load_relation(raw_members) is not none %}

with

source as (
    {% if raw_exists -%}
        select
            id,
            email_address,
            status,
            unsubscribe_reason,
            last_changed,
            timestamp_signup,
            _dlt_load_id
        from {{ raw_members }}
    {%- else -%}
        select
            cast(null as {{ dbt.type_string() }}) as id,
            cast(null as {{ dbt.type_string() }}) as email_address,
            cast(null as {{ dbt.type_string() }}) as status,
            cast(null as {{ dbt.type_string() }}) as unsubscribe_reason,
            cast(null as {{ dbt.type_timestamp() }}) as last_changed,
            cast(null as {{ dbt.type_timestamp() }}) as timestamp_signup,
            cast(null as {{ dbt.type_string() }}) as _dlt_load_id
        where 1 = 0
    {%- endif %}
),

renamed as (
    select
        'mailchimp' as source_system,
        cast(id as {{ dbt.type_string() }}) as source_record_id,
        {{ customer360.normalize_email('email_address') }} as email,
        lower(trim(cast(status as {{ dbt.type_string() }}))) as member_status,
        {{ customer360.blank_to_null('unsubscribe_reason') }} as unsubscribe_reason,
        {{ customer360.to_utc_timestamp('last_changed') }} as last_changed_at,
        {{ customer360.to_utc_timestamp('timestamp_signup') }} as source_created_at,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from source
),

mapped as (
    select
        renamed.*,
        {{ customer360.email_consent_state('mailchimp', 'member_status') }} as seed_consent_state
    from renamed
),

final as (
    select
        {{ customer360.surrogate_key(['source_record_id', 'last_changed_at']) }} as member_version_id,
        source_system,
        source_record_id,
        email,
        member_status,
        unsubscribe_reason,
        coalesce(lower(unsubscribe_reason) like '%abuse%', false) as is_complaint,
        case
            when seed_consent_state is not null then seed_consent_state
            when member_status is not null then 'opted_out'
            else 'unknown'
        end as email_consent_state,
        last_changed_at as email_consent_updated_at,
        last_changed_at as source_updated_at,
        source_created_at,
        loaded_at
    from mapped
)

select * from final
