-- depends_on: {{ source('csv_contacts', 'rejected_rows') }}
{%- set drops = customer360.csv_contact_drop_relations() %}

with

drop_rows as (
    {%- for drop in drops %}
        select
            '{{ drop.identifier }}' as source_system,
            contact_id,
            email,
            phone,
            first_name,
            last_name,
            address_line1,
            address_line2,
            city,
            postal_code,
            region,
            country,
            date_of_birth,
            updated_at,
            created_at,
            email_consent,
            email_consent_updated_at,
            _source_file as source_file,
            cast(_row_number as {{ dbt.type_int() }}) as source_row_number,
            _dlt_load_id as load_id
        from {{ drop }}
        union all
    {%- endfor %}
    -- the typed empty row set that ends the union (and is all of it when no drop is loaded)
    select
        {%- for column in ['source_system'] + customer360.csv_contact_columns()[:-3] + ['source_file'] %}
            cast(null as {{ dbt.type_string() }}) as {{ column }},
        {%- endfor %}
        cast(null as {{ dbt.type_int() }}) as source_row_number,
        cast(null as {{ dbt.type_string() }}) as load_id
    where false
),

final as (
    select * from drop_rows
)

select * from final
