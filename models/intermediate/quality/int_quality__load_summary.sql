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
    {'model': 'stg_segment__rejected_events', 'source_system': 'source_system', 'table': 'rejected_events'},
    {'model': 'stg_csv_contacts__rejected_rows', 'source_system': 'source_system', 'table': 'rejected_rows'},
] -%}
{#- every CSV drop: its raw table is named after it -#}
{%- do inputs.append({'model': 'base_csv_contacts__contact_rows', 'source_system': 'source_system',
    'table_expr': 'source_system'}) -%}

with

-- import CTEs are named after their models: `inputs` above names the model each count reads
stg_hubspot__contacts as (
    select * from {{ ref('stg_hubspot__contacts') }}
),

stg_shopify__customers as (
    select * from {{ ref('stg_shopify__customers') }}
),

stg_shopify__orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

stg_shopify__order_line_items as (
    select * from {{ ref('stg_shopify__order_line_items') }}
),

stg_shopify__order_refund_line_items as (
    select * from {{ ref('stg_shopify__order_refund_line_items') }}
),

stg_shopify__order_refund_transactions as (
    select * from {{ ref('stg_shopify__order_refund_transactions') }}
),

stg_shopify__product_variants as (
    select * from {{ ref('stg_shopify__product_variants') }}
),

stg_segment__events as (
    select * from {{ ref('stg_segment__events') }}
),

stg_segment__rejected_events as (
    select * from {{ ref('stg_segment__rejected_events') }}
),

stg_csv_contacts__rejected_rows as (
    select * from {{ ref('stg_csv_contacts__rejected_rows') }}
),

base_csv_contacts__contact_rows as (
    select * from {{ ref('base_csv_contacts__contact_rows') }}
),

quarantine as (
    select * from {{ ref('int_quality__quarantine') }}
),

rows_in as (
    {% for input in inputs %}
        select
            input_rows.load_id,
            min(input_rows.loaded_at) as loaded_at,
            input_rows.source_system,
            {{ input.get('table_expr') or "'" ~ input.table ~ "'" }} as source_table,
            count(*) as rows_in
        from (
            select
                load_id,
                loaded_at,
                {{ input.source_system }} as source_system
            from {{ input.model }}
        ) as input_rows
        group by input_rows.load_id, input_rows.source_system
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{# A row is one record of an API table, one line of a file: CSV rows of one contact are counted apart. #}
quarantined as (
    select
        load_id,
        source_system,
        source_table,
        count(distinct coalesce(source_location, record_key)) as rows_quarantined,
        count(*) as rule_violations
    from quarantine
    group by load_id, source_system, source_table
),

joined as (
    select
        rows_in.load_id,
        rows_in.loaded_at,
        rows_in.source_system,
        rows_in.source_table,
        rows_in.rows_in,
        rows_in.rows_in - coalesce(quarantined.rows_quarantined, 0) as rows_passed,
        coalesce(quarantined.rows_quarantined, 0) as rows_quarantined,
        coalesce(quarantined.rule_violations, 0) as rule_violations,
        cast(coalesce(quarantined.rows_quarantined, 0) as {{ dbt.type_float() }}) / rows_in.rows_in
            as quarantine_rate
    from rows_in
    left join quarantined
        on
            rows_in.load_id = quarantined.load_id
            and rows_in.source_system = quarantined.source_system
            and rows_in.source_table = quarantined.source_table
),

final as (
    select
        {{ customer360.surrogate_key(['load_id', 'source_system', 'source_table']) }} as load_summary_id,
        load_id,
        loaded_at,
        source_system,
        source_table,
        rows_in,
        rows_passed,
        rows_quarantined,
        rule_violations,
        quarantine_rate,
        lag(quarantine_rate) over (
            partition by source_system, source_table order by loaded_at, load_id
        ) as previous_quarantine_rate,
        quarantine_rate - lag(quarantine_rate) over (
            partition by source_system, source_table order by loaded_at, load_id
        ) as quarantine_rate_change
    from joined
)

select * from final
