{%- set setting = var('marts_reference_date') | string -%}

with

{% if setting == 'data' %}
orders as (
    select max(ordered_at) as last_ordered_at from {{ ref('int_commerce__orders') }}
),

events as (
    select max(event_at) as last_event_at from {{ ref('int_engagement__events') }}
),
{% endif %}

final as (
    {% if setting == 'data' %}
        select
            cast(coalesce(
                greatest(orders.last_ordered_at, events.last_event_at),
                orders.last_ordered_at,
                events.last_event_at,
                {{ dbt.current_timestamp() }}
            ) as {{ dbt.type_timestamp() }}) as reference_at
        from orders
        cross join events
    {% elif setting == 'today' %}
        select cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as reference_at
    {% else %}
        select cast('{{ setting }}' as {{ dbt.type_timestamp() }}) as reference_at
    {% endif %}
)

select * from final
