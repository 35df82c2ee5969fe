{#
    Every value and row that broke a validation rule, one row per (record, rule, column), from every
    staging model and from the lines the loaders rejected: one model shows everything bad.

    Nothing is dropped silently. `disposition` says what happened to the row:
      value_nulled      the row continues in staging with the bad value nulled (and flagged there);
      row_flagged       the row continues unchanged but flagged (a rule about the row as a whole);
      row_excluded      the row is not in the staging model (a CSV row without its contact_id);
      rejected_at_load  the loader could not read the line at all (broken JSON / CSV).

    The rules are listed below as data; each staging model computes the flags it names.
#}

{%- set person_rules = [
    {'rule': "'invalid_email'", 'when': 'is_email_invalid', 'column': 'email', 'value': 'email_raw'},
    {'rule': "'invalid_phone'", 'when': 'is_phone_invalid', 'column': 'phone', 'value': 'phone_raw'},
    {'rule': 'date_of_birth_issue', 'when': 'date_of_birth_issue is not null', 'column': 'date_of_birth',
     'value': 'date_of_birth_raw'},
] -%}

{%- set checks = [
    {'model': 'stg_hubspot__contacts', 'source_system': "'hubspot'", 'table': 'contacts', 'key': 'contact_id',
     'rules': person_rules + [
        {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null', 'column': 'createdate',
         'value': 'source_created_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_lifecycle_stage_unknown', 'column': 'lifecyclestage',
         'value': 'lifecycle_stage_raw'},
     ]},
    {'model': 'stg_shopify__customers', 'source_system': "'shopify'", 'table': 'customers', 'key': 'customer_id',
     'rules': person_rules + [
        {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null', 'column': 'created_at',
         'value': 'source_created_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_email_consent_state_unknown', 'column': 'email_marketing_consent.state',
         'value': 'email_consent_state_raw'},
     ]},
    {'model': 'stg_shopify__orders', 'source_system': "'shopify'", 'table': 'orders', 'key': 'order_id',
     'rules': person_rules + [
        {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null', 'column': 'created_at',
         'value': 'source_created_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_financial_status_unknown', 'column': 'financial_status',
         'value': 'financial_status_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_fulfillment_status_unknown', 'column': 'fulfillment_status',
         'value': 'fulfillment_status_raw'},
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'amounts',
         'value': 'negative_amount'},
     ]},
    {'model': 'stg_shopify__order_line_items', 'source_system': "'shopify'", 'table': 'orders__line_items',
     'key': 'line_item_id',
     'rules': [
        {'rule': "'negative_amount'", 'when': 'negative_amount is not null', 'column': 'price',
         'value': 'negative_amount'},
     ]},
    {'model': 'stg_segment__events', 'source_system': "'segment'", 'table': 'events', 'key': 'message_id',
     'location': 'source_file', 'line': 'source_line_number',
     'rules': person_rules + [
        {'rule': "'missing_identity'", 'when': 'not has_identity', 'column': 'anonymousId, userId', 'value': 'null',
         'disposition': 'row_flagged'},
        {'rule': "'missing_required_key'", 'when': 'is_required_key_missing', 'column': 'event',
         'value': 'event_type', 'disposition': 'row_flagged'},
        {'rule': 'event_at_issue', 'when': 'event_at_issue is not null', 'column': 'timestamp', 'value': 'event_at_raw'},
        {'rule': "'unknown_enum'", 'when': 'is_device_type_unknown', 'column': 'context.device.type',
         'value': 'device_type_raw'},
     ]},
] -%}

{%- for drop, drop_config in var('csv_contact_drops', {}).items() -%}
    {%- do checks.append(
        {'model': 'base_csv_contacts__' ~ drop, 'source_system': "'" ~ drop ~ "'", 'table': drop, 'key': 'record_key',
         'location': 'source_file', 'line': 'source_row_number',
         'rules': person_rules + [
            {'rule': "'missing_required_key'", 'when': 'contact_id is null', 'column': 'contact_id', 'value': 'null',
             'disposition': 'row_excluded'},
            {'rule': 'source_updated_at_issue', 'when': 'source_updated_at_issue is not null', 'column': 'updated_at',
             'value': 'source_updated_at_raw'},
            {'rule': 'source_created_at_issue', 'when': 'source_created_at_issue is not null',
             'column': drop_config.get('created_at_column') or 'created_at', 'value': 'source_created_at_raw'},
            {'rule': "'unknown_enum'", 'when': 'is_email_consent_unknown',
             'column': drop_config.get('consent_column') or 'consent', 'value': 'email_consent_raw'},
         ]}
    ) -%}
{%- endfor %}

with

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
    from {{ ref('stg_shopify__order_line_items') }}
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
    from {{ ref('stg_shopify__orders') }} as orders
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
        'row_flagged' as disposition,
        loaded_at,
        load_id
    from order_totals
    where
        abs(total_price - expected_total_price) > {{ var('staging_order_total_tolerance', 0.01) }}
        or abs(coalesce(subtotal_price, expected_subtotal_price) - expected_subtotal_price)
        > {{ var('staging_order_total_tolerance', 0.01) }}
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
        'rejected_at_load' as disposition,
        loaded_at,
        load_id
    from {{ ref('stg_segment__rejected_events') }}
    union all
    select
        source_system,
        'rejected_rows' as source_table,
        record_key,
        record_key as source_location,
        'broken_csv_row' as rule_name,
        'line' as column_name,
        raw_text as offending_value,
        'rejected_at_load' as disposition,
        loaded_at,
        load_id
    from {{ ref('stg_csv_contacts__rejected_rows') }}
),

unioned as (
    {% for check in checks %}
        {% for rule in check.rules %}
            select
                {{ check.source_system }} as source_system,
                '{{ check.table }}' as source_table,
                cast({{ check.key }} as {{ dbt.type_string() }}) as record_key,
                {% if check.location is defined %}
                    {{ dbt.concat([check.location, "':'", 'cast(' ~ check.line ~ ' as ' ~ dbt.type_string() ~ ')']) }}
                {% else %}
                    cast(null as {{ dbt.type_string() }})
                {% endif %} as source_location,
                {{ rule.rule }} as rule_name,
                '{{ rule.column }}' as column_name,
                cast({{ rule.value }} as {{ dbt.type_string() }}) as offending_value,
                '{{ rule.disposition | default('value_nulled') }}' as disposition,
                loaded_at,
                load_id
            from {{ ref(check.model) }}
            where {{ rule.when }}
            union all
        {% endfor %}
    {% endfor %}
    select * from order_total_rules
    union all
    select * from rejected_rules
),

final as (
    select
        {{ customer360.surrogate_key([
            'source_system', 'source_table', 'record_key', 'source_location', 'rule_name', 'column_name'
        ]) }} as quarantine_id,
        source_system,
        source_table,
        record_key,
        source_location,
        rule_name,
        column_name,
        offending_value,
        disposition,
        loaded_at,
        load_id
    from unioned
)

select * from final
