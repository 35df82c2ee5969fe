{#
    CSV contact drops. Each drop is its own source system with raw table raw_csv_contacts.<drop>
    (canonical columns from the drop's mapping.json, all text) and its settings in
    var('csv_contact_drops')[<drop>]: date_format / timestamp_format (strptime; null = ISO-8601) and
    consent_column (the drop's own column whose values seed enum_email_consent_states maps for
    source_system = <drop>; null when the drop has none), created_at_column / created_at_format (the
    column saying when the contact was created, and its strptime format; null = ISO-8601),
    consent_updated_at_column (the column saying when the consent value was given, read with
    timestamp_format; null = none, and the drop's opt-ins are then undated). Adding a
    drop: docs/dbt/staging.md.

    Two models per drop, each one line:
      base_csv_contacts__<drop>  = {{ '{{' }} stage_csv_contact_rows('<drop>') {{ '}}' }}
          every row of every file, normalized and flagged (the quarantine reads this one);
      stg_csv_contacts__<drop>   = {{ '{{' }} stage_csv_contacts('<drop>') {{ '}}' }}
          one row per contact_id: its latest version (the same contact is exported again in later
          files), rows without a contact_id left out (they are quarantined as missing_required_key).
#}

{% macro csv_contact_drop_config(drop) -%}
    {%- set drops = var('csv_contact_drops', {}) -%}
    {%- if drop not in drops -%}
        {{ exceptions.raise_compiler_error(
            "CSV drop '" ~ drop ~ "' has no entry in var('csv_contact_drops') in dbt_project.yml "
            ~ "(known: " ~ (drops.keys() | join(', ')) ~ ")"
        ) }}
    {%- endif -%}
    {{ return(drops[drop]) }}
{%- endmacro %}


{% macro stage_csv_contact_rows(drop) -%}
{%- set config = customer360.csv_contact_drop_config(drop) -%}
{%- set date_format = config.get('date_format') or '%Y-%m-%d' -%}
{%- set timestamp_format = config.get('timestamp_format') -%}
{%- set consent_column = config.get('consent_column') -%}
{%- set created_at_column = config.get('created_at_column') -%}
{%- set created_at_format = config.get('created_at_format') -%}
{%- set consent_updated_at_column = config.get('consent_updated_at_column') -%}
with

source as (
    select * from {{ source('csv_contacts', drop) }}
),

renamed as (
    select
        {{ customer360.blank_to_null('source.contact_id') }} as contact_id,
        source.email as email_raw,
        source.phone as phone_raw,
        source.first_name as first_name_raw,
        source.last_name as last_name_raw,
        source.address_line1 as address_line1_raw,
        source.address_line2 as address_line2_raw,
        source.city as city_raw,
        source.postal_code as postal_code_raw,
        source.region as region_raw,
        source.country as country_raw,
        source.date_of_birth as date_of_birth_raw,
        {%- if consent_column %}
        {{ customer360.blank_to_null('source.' ~ consent_column) }} as email_consent_raw,
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as email_consent_raw,
        {%- endif %}
        {{ customer360.blank_to_null('source.updated_at') }} as source_updated_at_raw,
        {%- if timestamp_format %}
        {{ customer360.parse_timestamp(customer360.blank_to_null('source.updated_at'), timestamp_format) }}
        {%- else %}
        {{ customer360.to_utc_timestamp('source.updated_at') }}
        {%- endif %} as c360_updated_at,
        {%- if created_at_column %}
        {{ customer360.blank_to_null('source.' ~ created_at_column) }} as source_created_at_raw,
        {%- if created_at_format %}
        {{ customer360.parse_timestamp(customer360.blank_to_null('source.' ~ created_at_column), created_at_format) }}
        {%- else %}
        {{ customer360.to_utc_timestamp('source.' ~ created_at_column) }}
        {%- endif %} as c360_created_at,
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as source_created_at_raw,
        cast(null as {{ dbt.type_timestamp() }}) as c360_created_at,
        {%- endif %}
        {%- if consent_updated_at_column %}
        {%- if timestamp_format %}
        {{ customer360.parse_timestamp(customer360.blank_to_null('source.' ~ consent_updated_at_column), timestamp_format) }}
        {%- else %}
        {{ customer360.to_utc_timestamp('source.' ~ consent_updated_at_column) }}
        {%- endif %} as c360_consent_updated_at,
        {%- else %}
        cast(null as {{ dbt.type_timestamp() }}) as c360_consent_updated_at,
        {%- endif %}
        source._source_file as source_file,
        cast(source._row_number as {{ dbt.type_int() }}) as source_row_number,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
),

{{ customer360.staging_person_ctes('renamed', date_of_birth_format=date_format) }},

final as (
    select
        '{{ drop }}' as source_system,
        person_columns.contact_id as source_record_id,
        person_columns.contact_id,
        {#- A row without its key is still reported: by where it is. -#}
        coalesce(
            person_columns.contact_id,
            {{ dbt.concat(['person_columns.source_file', "':'", 'cast(person_columns.source_row_number as ' ~ dbt.type_string() ~ ')']) }}
        ) as record_key,
        {{ customer360.staging_person_column_list('person_columns') }},
        {#- Consent fails closed: a value the seed does not know for this drop ("Yes", "TRUE", "X") is
            read as an opt-out (and quarantined as unknown_enum); only a blank says nothing. -#}
        case
            when {{ customer360.email_consent_state(drop, 'person_columns.email_consent_raw') }} is not null
                then {{ customer360.email_consent_state(drop, 'person_columns.email_consent_raw') }}
            when person_columns.email_consent_raw is not null then 'opted_out'
            else 'unknown'
        end as email_consent_state,
        {#- Only the drop's own consent-time column dates a consent value; never the load time. -#}
        case
            when {{ customer360.email_consent_state(drop, 'person_columns.email_consent_raw') }} is not null
                then person_columns.c360_consent_updated_at
        end as email_consent_updated_at,
        case
            when {{ customer360.timestamp_issue('person_columns.source_created_at_raw', 'person_columns.c360_created_at') }}
                is null
                then person_columns.c360_created_at
        end as source_created_at,
        case
            when {{ customer360.timestamp_issue('person_columns.source_updated_at_raw', 'person_columns.c360_updated_at') }}
                is null
                then person_columns.c360_updated_at
        end as source_updated_at,
        person_columns.loaded_at,
        person_columns.source_file,
        person_columns.source_row_number,
        person_columns.load_id,
        {{ customer360.staging_person_quality_columns('person_columns') }},
        person_columns.email_consent_raw,
        person_columns.email_consent_raw is not null
        and {{ customer360.email_consent_state(drop, 'person_columns.email_consent_raw') }} is null
            as is_email_consent_unknown,
        person_columns.source_updated_at_raw,
        {{ customer360.timestamp_issue('person_columns.source_updated_at_raw', 'person_columns.c360_updated_at') }}
            as source_updated_at_issue,
        person_columns.source_created_at_raw,
        {{ customer360.timestamp_issue('person_columns.source_created_at_raw', 'person_columns.c360_created_at') }}
            as source_created_at_issue
    from person_columns
)

select * from final
{%- endmacro %}


{% macro stage_csv_contacts(drop) -%}
with

contact_rows as (
    select * from {{ ref('base_csv_contacts__' ~ drop) }}
    where contact_id is not null
),

ranked as (
    select
        contact_rows.*,
        row_number() over (
            partition by contact_rows.contact_id
            order by
                contact_rows.source_updated_at desc nulls last,
                contact_rows.source_file desc,
                contact_rows.source_row_number desc
        ) as version_rank
    from contact_rows
),

final as (
    select
        source_system,
        source_record_id,
        contact_id,
        {%- for column in customer360.staging_person_column_names() %}
        {{ column }},
        {%- endfor %}
        email_consent_state,
        email_consent_updated_at,
        source_created_at,
        source_updated_at,
        loaded_at,
        source_file,
        source_row_number,
        load_id,
        {%- for column in customer360.staging_person_quality_column_names() %}
        {{ column }},
        {%- endfor %}
        email_consent_raw,
        is_email_consent_unknown
    from ranked
    where version_rank = 1
)

select * from final
{%- endmacro %}
