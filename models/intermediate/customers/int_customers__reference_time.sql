{%- set setting = var('marts_reference_date') | string -%}

{% if setting == 'data' %}
    select
        cast(coalesce(
            greatest(
                (select max(ordered_at) from {{ ref('int_commerce__orders') }}),
                (select max(event_at) from {{ ref('int_engagement__events') }})
            ),
            (select max(ordered_at) from {{ ref('int_commerce__orders') }}),
            (select max(event_at) from {{ ref('int_engagement__events') }}),
            {{ dbt.current_timestamp() }}
        ) as {{ dbt.type_timestamp() }}) as reference_at
{% elif setting == 'today' %}
    select cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as reference_at
{% else %}
    select cast('{{ setting }}' as {{ dbt.type_timestamp() }}) as reference_at
{% endif %}
