{#
    The load summary adds up: per load and table, rows in = passed + quarantined, nothing negative,
    and per table the rows in over all loads equal the rows of the staging model the quarantine
    judged. Returns the tables that do not add up.
#}
{%- set inputs = [
    {'model': 'stg_hubspot__contacts', 'source_system': "'hubspot'", 'table': 'contacts'},
    {'model': 'stg_shopify__customers', 'source_system': "'shopify'", 'table': 'customers'},
    {'model': 'stg_shopify__orders', 'source_system': "'shopify'", 'table': 'orders'},
    {'model': 'stg_shopify__order_line_items', 'source_system': "'shopify'", 'table': 'orders__line_items'},
    {'model': 'stg_shopify__order_refund_line_items', 'source_system': "'shopify'",
     'table': 'orders__refunds__refund_line_items'},
    {'model': 'stg_shopify__order_refund_transactions', 'source_system': "'shopify'",
     'table': 'orders__refunds__transactions'},
    {'model': 'stg_shopify__product_variants', 'source_system': "'shopify'", 'table': 'products__variants'},
    {'model': 'stg_segment__events', 'source_system': "'segment'", 'table': 'events'},
] -%}
{#- every CSV drop: its raw table is named after it -#}
{%- do inputs.append({'model': 'base_csv_contacts__contact_rows', 'source_system': 'source_system',
    'table_expr': 'source_system'}) -%}

with

summary as (
    select * from {{ ref('int_quality__load_summary') }}
),

unbalanced_loads as (
    select
        source_system,
        source_table,
        'load ' || load_id || ': rows_in <> passed + quarantined or a count is negative' as problem
    from summary
    where
        rows_in <> rows_passed + rows_quarantined
        or rows_passed < 0
        or rows_quarantined < 0
        or rows_quarantined > rows_in
),

staged_rows as (
    {% for input in inputs %}
        select
            staged.source_system,
            staged.source_table,
            count(*) as staged_rows
        from (
            select
                {{ input.source_system }} as source_system,
                {{ input.get('table_expr') or "'" ~ input.table ~ "'" }} as source_table
            from {{ ref(input.model) }}
        ) as staged
        group by staged.source_system, staged.source_table
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

summarized_rows as (
    select
        source_system,
        source_table,
        sum(rows_in) as rows_in
    from summary
    group by source_system, source_table
),

miscounted_tables as (
    select
        staged_rows.source_system,
        staged_rows.source_table,
        'rows_in over all loads <> rows staged' as problem
    from staged_rows
    left join summarized_rows
        on
            staged_rows.source_system = summarized_rows.source_system
            and staged_rows.source_table = summarized_rows.source_table
    where coalesce(summarized_rows.rows_in, 0) <> staged_rows.staged_rows
)

select * from unbalanced_loads
union all
select * from miscounted_tables
