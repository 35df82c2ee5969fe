{%- set setting = var('marts_reference_date') | string -%}

with

orders as (
    {% if setting == 'data' %}
        select max(ordered_at) as last_ordered_at from {{ ref('int_commerce__orders') }}
    {% else %}
        select cast(null as {{ dbt.type_timestamp() }}) as last_ordered_at
    {% endif %}
),

events as (
    {% if setting == 'data' %}
        select max(event_at) as last_event_at from {{ ref('int_engagement__events') }}
    {% else %}
        select cast(null as {{ dbt.type_timestamp() }}) as last_event_at
    {% endif %}
),

final as (
    select
        {% if setting == 'data' %}
            cast(coalesce(
                greatest(orders.last_ordered_at, events.last_event_at),
                orders.last_ordered_at,
                events.last_event_at,
                {{ dbt.current_timestamp() }}
            ) as {{ dbt.type_timestamp() }}) as reference_at
        {% elif setting == 'today' %}
            cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as reference_at
        {% else %}
            cast('{{ setting }}' as {{ dbt.type_timestamp() }}) as reference_at
        {% endif %}
    from orders
    cross join events
)

select * from final
