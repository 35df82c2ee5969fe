{%- set person_rules = [
    {'rule': "'invalid_email'", 'when': 'is_email_invalid', 'column': 'email', 'value': 'email_raw'},
    {'rule': "'invalid_phone'", 'when': 'is_phone_invalid', 'column': 'phone', 'value': 'phone_raw'},
    {'rule': 'date_of_birth_issue', 'when': 'date_of_birth_issue is not null', 'column': 'date_of_birth',
     'value': 'date_of_birth_raw'},
] -%}

{%- set checks = [
    {'model': 'stg_hubspot__contacts', 'source_system': "'hubspot'", 'table': 'contacts', 'key': 'contact_id',
     'person': true,
     'rules': person_rules + [
        {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null', 'column': 'createdate',
         'value': 'source_created_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_lifecycle_stage_unknown', 'column': 'lifecyclestage',
         'value': 'lifecycle_stage_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_email_optout_unknown', 'column': 'hs_email_optout',
         'value': 'email_optout_raw'},
     ]},
    {'model': 'stg_shopify__customers', 'source_system': "'shopify'", 'table': 'customers', 'key': 'customer_id',
     'person': true,
     'rules': person_rules + [
        {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null', 'column': 'created_at',
         'value': 'source_created_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_email_consent_state_unknown', 'column': 'email_marketing_consent.state',
         'value': 'email_consent_state_raw'},
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'total_spent',
         'value': 'negative_amount'},
        {'rule': "'unknown_enum'", 'when': 'is_currency_unknown', 'column': 'currency', 'value': 'currency_raw'},
     ]},
    {'model': 'stg_shopify__orders', 'source_system': "'shopify'", 'table': 'orders', 'key': 'order_id',
     'person': true,
     'rules': person_rules + [
        {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null', 'column': 'created_at',
         'value': 'source_created_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_financial_status_unknown', 'column': 'financial_status',
         'value': 'financial_status_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_fulfillment_status_unknown', 'column': 'fulfillment_status',
         'value': 'fulfillment_status_raw'},
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'amounts',
         'value': 'negative_amount'},
        {'rule': 'currency_issue', 'when': 'currency_issue is not null', 'column': 'currency', 'value': 'currency_raw'},
     ]},
    {'model': 'stg_shopify__order_line_items', 'source_system': "'shopify'", 'table': 'orders__line_items',
     'key': 'line_item_id',
     'rules': [
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'price',
         'value': 'negative_amount'},
     ]},
    {'model': 'stg_shopify__order_refund_line_items', 'source_system': "'shopify'",
     'table': 'orders__refunds__refund_line_items', 'key': 'refund_line_item_id',
     'rules': [
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'subtotal',
         'value': 'negative_amount'},
     ]},
    {'model': 'stg_shopify__order_refund_transactions', 'source_system': "'shopify'",
     'table': 'orders__refunds__transactions', 'key': 'transaction_id',
     'rules': [
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'amount',
         'value': 'negative_amount'},
     ]},
    {'model': 'stg_shopify__product_variants', 'source_system': "'shopify'", 'table': 'products__variants',
     'key': 'variant_id',
     'rules': [
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'price',
         'value': 'negative_amount'},
     ]},
    {'model': 'stg_segment__events', 'source_system': "'segment'", 'table': 'events', 'key': 'message_id',
     'location': 'source_file', 'line': 'source_line_number', 'person': true,
     'rules': person_rules + [
        {'rule': "'missing_identity'", 'when': 'not has_identity', 'column': 'anonymousId, userId', 'value': 'null',
         'disposition': 'row_flagged'},
        {'rule': "'missing_required_key'", 'when': 'is_required_key_missing', 'column': 'event',
         'value': 'event_type', 'disposition': 'row_flagged'},
        {'rule': 'event_at_issue', 'when': 'event_at_issue is not null', 'column': 'timestamp', 'value': 'event_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_device_type_unknown', 'column': 'context.device.type',
         'value': 'device_type_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_event_type_unknown', 'column': 'type', 'value': 'event_type_raw'},
     ]},
] -%}

{#- Every CSV drop: the drop is the source system and its raw table (table_expr: a column, not a name). -#}
{%- do checks.append(
    {'model': 'base_csv_contacts__contact_rows', 'source_system': 'source_system', 'table_expr': 'source_system',
     'key': 'record_key', 'location': 'source_file', 'line': 'source_row_number', 'person': true,
     'rules': person_rules + [
        {'rule': "'missing_required_key'", 'when': 'contact_id is null', 'column': 'contact_id', 'value': 'null',
         'disposition': 'row_excluded'},
        {'rule': 'source_updated_at_issue', 'when': 'source_updated_at_issue is not null', 'column': 'updated_at',
         'value': 'source_updated_at_raw'},
        {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null', 'column': 'created_at',
         'value': 'source_created_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_email_consent_unknown', 'column': 'email_consent',
         'value': 'email_consent_raw'},
     ]}
) -%}

{#- What each rule and disposition means, for the reason column. -#}
{%- set rule_reasons = customer360.quality_rules() -%}
{%- set disposition_reasons = customer360.quality_dispositions() -%}

with

-- import CTEs are named after their models: the checks above name the model each rule reads
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

base_csv_contacts__contact_rows as (
    select * from {{ ref('base_csv_contacts__contact_rows') }}
),

stg_segment__rejected_events as (
    select * from {{ ref('stg_segment__rejected_events') }}
),

stg_csv_contacts__rejected_rows as (
    select * from {{ ref('stg_csv_contacts__rejected_rows') }}
),

stg_privacy__returning_erased_records as (
    select * from {{ ref('stg_privacy__returning_erased_records') }}
),

{#
    Order totals: line items (price x quantity) - discounts + tax + shipping must equal the total, and
    line items - discounts the subtotal, within the tolerance. Orders with an amount already
    quarantined (negative or missing) are not judged twice.
-#}
order_line_totals as (
    select
        order_id,
        sum(price * quantity) as line_items_amount,
        sum(case when negative_amount is not null or price is null or quantity is null then 1 else 0 end)
            as unusable_lines
    from stg_shopify__order_line_items
    group by order_id
),

order_totals as (
    select
        orders.order_id,
        orders.total_price,
        orders.subtotal_price,
        orders.loaded_at,
        orders.load_id,
        coalesce(order_line_totals.line_items_amount, 0)
        - coalesce(orders.total_discounts, 0)
        + coalesce(orders.total_tax, 0)
        + coalesce(orders.total_shipping, 0) as expected_total_price,
        coalesce(order_line_totals.line_items_amount, 0) - coalesce(orders.total_discounts, 0)
            as expected_subtotal_price
    from stg_shopify__orders as orders
    left join order_line_totals on orders.order_id = order_line_totals.order_id
    where
        orders.negative_amount is null
        and orders.total_price is not null
        and coalesce(order_line_totals.unusable_lines, 0) = 0
),

order_total_rules as (
    select
        'shopify' as source_system,
        'orders' as source_table,
        order_id as record_key,
        cast(null as {{ dbt.type_string() }}) as source_location,
        'order_total_mismatch' as rule_name,
        'total_price' as column_name,
        {{ dbt.concat([
            "'total_price='", 'cast(total_price as ' ~ dbt.type_string() ~ ')',
            "', expected='", 'cast(expected_total_price as ' ~ dbt.type_string() ~ ')',
            "', subtotal_price='", 'cast(subtotal_price as ' ~ dbt.type_string() ~ ')',
            "', expected subtotal='", 'cast(expected_subtotal_price as ' ~ dbt.type_string() ~ ')'
        ]) }} as offending_value,
        cast(null as {{ dbt.type_string() }}) as reason_detail,
        'row_flagged' as disposition,
        loaded_at,
        load_id
    from order_totals
    where
        abs(total_price - expected_total_price) > {{ var('staging_order_total_tolerance', 0.01) }}
        or abs(coalesce(subtotal_price, expected_subtotal_price) - expected_subtotal_price)
        > {{ var('staging_order_total_tolerance', 0.01) }}
),

{# An account order whose customer the customers endpoint never returned: kept, flagged. #}
order_reference_rules as (
    select
        'shopify' as source_system,
        'orders' as source_table,
        orders.order_id as record_key,
        cast(null as {{ dbt.type_string() }}) as source_location,
        'unknown_reference' as rule_name,
        'customer.id' as column_name,
        orders.customer_id as offending_value,
        cast(null as {{ dbt.type_string() }}) as reason_detail,
        'row_flagged' as disposition,
        orders.loaded_at,
        orders.load_id
    from stg_shopify__orders as orders
    where
        orders.customer_id is not null
        and not exists (
            select 1
            from stg_shopify__customers as customers
            where customers.customer_id = orders.customer_id
        )
),

{# A refund of a line item the order never listed: kept, flagged. #}
refund_reference_rules as (
    select
        'shopify' as source_system,
        'orders__refunds__refund_line_items' as source_table,
        refund_lines.refund_line_item_id as record_key,
        cast(null as {{ dbt.type_string() }}) as source_location,
        'unknown_reference' as rule_name,
        'line_item_id' as column_name,
        refund_lines.line_item_id as offending_value,
        cast(null as {{ dbt.type_string() }}) as reason_detail,
        'row_flagged' as disposition,
        refund_lines.loaded_at,
        refund_lines.load_id
    from stg_shopify__order_refund_line_items as refund_lines
    where
        refund_lines.line_item_id is not null
        and not exists (
            select 1
            from stg_shopify__order_line_items as line_items
            where line_items.line_item_id = refund_lines.line_item_id
        )
),

{#
    One row per entry of oversized_values ('<field>=<length>=<first characters>': never the whole
    value) and value_findings ('<rule>=<column>=<disposition>=<value>').
#}
person_entries as (
    {% for check in checks if check.person %}
        {% set last_check = loop.last %}
        {% for entries in ['oversized_values', 'value_findings'] %}
            select
                '{{ entries }}' as entry_kind,
                {{ check.source_system }} as source_system,
                {{ check.get('table_expr') or "'" ~ check.table ~ "'" }} as source_table,
                cast({{ check.key }} as {{ dbt.type_string() }}) as record_key,
                {% if check.location is defined %}
                    {{ dbt.concat([check.location, "':'", 'cast(' ~ check.line ~ ' as ' ~ dbt.type_string() ~ ')']) }}
                {% else %}
                    cast(null as {{ dbt.type_string() }})
                {% endif %} as source_location,
                {{ customer360.split_to_rows(entries, customer360.oversized_values_separator()) }} as entry,
                loaded_at,
                load_id
            from {{ check.model }}
            where {{ entries }} is not null
            {% if not (last_check and loop.last) %}union all{% endif %}
        {% endfor %}
    {% endfor %}
),

oversized_fields as (
    select
        person_entries.*,
        {{ dbt.split_part('entry', "'='", 1) }} as column_name,
        {{ dbt.split_part('entry', "'='", 2) }} as value_length
    from person_entries
    where person_entries.entry_kind = 'oversized_values'
),

oversized_rules as (
    select
        source_system,
        source_table,
        record_key,
        source_location,
        'value_too_long' as rule_name,
        column_name,
        {{ dbt.concat([
            'substr(entry, ' ~ dbt.length('column_name') ~ ' + ' ~ dbt.length('value_length') ~ ' + 3)',
            "' ... ('", 'value_length', "' characters)'"
        ]) }} as offending_value,
        {{ dbt.concat(["'the source sent '", 'value_length', "' characters'"]) }} as reason_detail,
        'value_nulled' as disposition,
        loaded_at,
        load_id
    from oversized_fields
),

value_finding_parts as (
    select
        person_entries.*,
        {{ dbt.split_part('entry', "'='", 1) }} as rule_name,
        {{ dbt.split_part('entry', "'='", 2) }} as column_name,
        {{ dbt.split_part('entry', "'='", 3) }} as disposition
    from person_entries
    where person_entries.entry_kind = 'value_findings'
),

value_finding_rules as (
    select
        source_system,
        source_table,
        record_key,
        source_location,
        rule_name,
        column_name,
        substr(
            entry, {{ dbt.length('rule_name') }} + {{ dbt.length('column_name') }} + {{ dbt.length('disposition') }} + 4
        ) as offending_value,
        cast(null as {{ dbt.type_string() }}) as reason_detail,
        disposition,
        loaded_at,
        load_id
    from value_finding_parts
),

rejected_rules as (
    select
        source_system,
        'rejected_events' as source_table,
        record_key,
        record_key as source_location,
        rule_name,
        'line' as column_name,
        raw_text as offending_value,
        reason as reason_detail,
        'rejected_at_load' as disposition,
        loaded_at,
        load_id
    from stg_segment__rejected_events
    union all
    select
        source_system,
        'rejected_rows' as source_table,
        record_key,
        record_key as source_location,
        'broken_csv_row' as rule_name,
        'line' as column_name,
        raw_text as offending_value,
        reason as reason_detail,
        'rejected_at_load' as disposition,
        loaded_at,
        load_id
    from stg_csv_contacts__rejected_rows
),

{# Records of erased people delivered again: removed from raw, counted here (never a value). #}
erased_rules as (
    select
        source_system,
        source_table,
        run_id as record_key,
        cast(null as {{ dbt.type_string() }}) as source_location,
        'erased' as rule_name,
        'row' as column_name,
        cast(null as {{ dbt.type_string() }}) as offending_value,
        {{ dbt.concat(['cast(rows_removed as ' ~ dbt.type_string() ~ ')', "' row(s) removed'"]) }} as reason_detail,
        'row_excluded' as disposition,
        blocked_at as loaded_at,
        run_id as load_id
    from stg_privacy__returning_erased_records
),

unioned as (
    {% for check in checks %}
        {% for rule in check.rules %}
            select
                {{ check.source_system }} as source_system,
                {{ check.get('table_expr') or "'" ~ check.table ~ "'" }} as source_table,
                cast({{ check.key }} as {{ dbt.type_string() }}) as record_key,
                {% if check.location is defined %}
                    {{ dbt.concat([check.location, "':'", 'cast(' ~ check.line ~ ' as ' ~ dbt.type_string() ~ ')']) }}
                {% else %}
                    cast(null as {{ dbt.type_string() }})
                {% endif %} as source_location,
                {{ rule.rule }} as rule_name,
                '{{ rule.column }}' as column_name,
                cast({{ rule.value }} as {{ dbt.type_string() }}) as offending_value,
                cast(null as {{ dbt.type_string() }}) as reason_detail,
                '{{ rule.disposition | default('value_nulled') }}' as disposition,
                loaded_at,
                load_id
            from {{ check.model }}
            where {{ rule.when }}
            union all
        {% endfor %}
    {% endfor %}
    select * from order_total_rules
    union all
    select * from order_reference_rules
    union all
    select * from refund_reference_rules
    union all
    select * from oversized_rules
    union all
    select * from value_finding_rules
    union all
    select * from rejected_rules
    union all
    select * from erased_rules
),

{# Rows equal on every identifying column are one finding: kept once (the first value in text order). #}
findings as (
    select
        source_system,
        source_table,
        record_key,
        source_location,
        rule_name,
        column_name,
        min(offending_value) as offending_value,
        min(reason_detail) as reason_detail,
        min(disposition) as disposition,
        min(loaded_at) as loaded_at,
        min(load_id) as load_id
    from unioned
    group by source_system, source_table, record_key, source_location, rule_name, column_name
),

{# What each rule and disposition means, in words. #}
rule_reasons as (
    {% for rule, text in rule_reasons.items() %}
        select
            '{{ rule }}' as rule_name,
            '{{ text | replace("'", "''") }}' as rule_reason
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

disposition_reasons as (
    {% for disposition, text in disposition_reasons.items() %}
        select
            '{{ disposition }}' as disposition,
            '{{ text | replace("'", "''") }}' as disposition_reason
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        {{ customer360.surrogate_key([
            'findings.source_system', 'findings.source_table', 'findings.record_key', 'findings.source_location',
            'findings.rule_name', 'findings.column_name'
        ]) }} as quarantine_id,
        findings.source_system,
        findings.source_table,
        findings.record_key,
        findings.source_location,
        findings.rule_name,
        findings.column_name,
        {#- A value longer than var quarantine_max_value_length keeps its first characters and its length. -#}
        case
            when {{ dbt.length('findings.offending_value') }} > {{ var('quarantine_max_value_length', 10000) }}
                then {{ dbt.concat([
                    'substr(findings.offending_value, 1, ' ~ var('quarantine_max_value_length', 10000) ~ ')',
                    "' ... ('", 'cast(' ~ dbt.length('findings.offending_value') ~ ' as ' ~ dbt.type_string() ~ ')',
                    "' characters)'"
                ]) }}
            else findings.offending_value
        end as offending_value,
        findings.disposition,
        {{ dbt.concat([
            'findings.column_name', "': '", 'coalesce(rule_reasons.rule_reason, findings.rule_name)',
            "coalesce(' - ' || findings.reason_detail, '')",
            "' ('", 'disposition_reasons.disposition_reason', "')'"
        ]) }} as reason,
        findings.loaded_at,
        findings.load_id
    from findings
    left join rule_reasons on findings.rule_name = rule_reasons.rule_name
    left join disposition_reasons on findings.disposition = disposition_reasons.disposition
)

select * from final
