{#
    published_rows_guard(published_rows, live_model, row_key): the `with` steps of a published activation view
    (models/marts/activation/published/), up to `blocked`: the rows last published (`published_rows`, the
    source `published.<mart>_rows`; the live mart's columns and no row before the first publish), and the
    `row_key` of every published row the suppression guard blocks now. The view selects its columns from
    `published_rows` where `row_key` is not in `blocked`. Written once for both views: a fix to what the guard
    is asked reaches both.
#}
{% macro published_rows_guard(published_rows, live_model, row_key) -%}
    {%- set has_rows = execute and load_relation(published_rows) is not none -%}

    {{ customer360.suppression_guard_ctes() }}

    published_rows as (
        {% if has_rows %}
            select * from {{ published_rows }}
        {% else %}
            select * from {{ live_model }}
            where 1 = 0
        {% endif %}
    ),

    customer_id_history as (
        select * from {{ ref('int_identity__customer_id_history') }}
    ),

    customer_map as (
        select * from {{ ref('int_identity__customer_map') }}
    ),

    guard_subjects as (
        -- the guard is asked about the published id and about every id its records hold now: a merge since the
        -- publish retires the published id, and an unsubscribe is then keyed by the surviving one (fail closed:
        -- after a split, either part's opt-out holds the row)
        select
            customer_id as published_customer_id,
            customer_id as guard_customer_id
        from published_rows
        union
        select
            history.customer_id as published_customer_id,
            current_ids.customer_id as guard_customer_id
        from customer_id_history as history
        inner join customer_map as current_ids
            on
                history.source_system = current_ids.source_system
                and history.source_record_id = current_ids.source_record_id
    ),

    checked as (
        select
            published_rows.{{ row_key }},
            {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
        from published_rows
        left join guard_subjects on published_rows.customer_id = guard_subjects.published_customer_id
        {{ customer360.suppression_guard_joins('guard_subjects.guard_customer_id', 'published_rows.email') }}
    ),

    blocked as (
        select distinct {{ row_key }}
        from checked
        where guard_block_reason is not null
    ),
{%- endmacro %}
