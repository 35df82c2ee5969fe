{#
    "Now" for the customer metrics (recency, 30-day engagement, CLV horizon) and the cart triggers, one
    row. var `marts_reference_date`: 'data' (default) = the latest order or event loaded, so a rebuild of
    the same data gives the same marts and the demo's history does not age with the wall clock;
    'today' = the build time; or a fixed 'YYYY-MM-DD'.
#}

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
