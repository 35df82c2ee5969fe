with

drop_rows as (
    select * from {{ ref('base_csv_contacts__drop_rows') }}
),

field_values as (
    select distinct
        source_system,
        'date_of_birth' as field_name,
        {{ customer360.blank_to_null('date_of_birth') }} as written_value
    from drop_rows
    union all
    select distinct
        source_system,
        'updated_at' as field_name,
        {{ customer360.blank_to_null('updated_at') }} as written_value
    from drop_rows
    union all
    select distinct
        source_system,
        'created_at' as field_name,
        {{ customer360.blank_to_null('created_at') }} as written_value
    from drop_rows
    union all
    select distinct
        source_system,
        'email_consent_updated_at' as field_name,
        {{ customer360.blank_to_null('email_consent_updated_at') }} as written_value
    from drop_rows
),

candidates as (
    {%- for datetime_format in var('csv_datetime_formats') %}
        select
            source_system,
            field_name,
            {{ customer360.sql_string_literal(datetime_format) }} as datetime_format,
            {{ loop.index }} as format_rank,
            count(written_value) as distinct_values,
            count({{ customer360.parse_datetime_in('written_value', datetime_format) }}) as values_read
        from field_values
        group by source_system, field_name
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by source_system, field_name order by values_read desc, format_rank asc
        ) as preference,
        count(*) over (partition by source_system, field_name, values_read) as formats_reading_as_many
    from candidates
),

final as (
    select
        source_system,
        field_name,
        case when values_read > 0 then datetime_format end as datetime_format,
        distinct_values,
        values_read,
        values_read > 0 and formats_reading_as_many > 1 as is_ambiguous
    from ranked
    where preference = 1
)

select * from final
