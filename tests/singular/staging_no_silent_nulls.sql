{#
    Nothing is nulled silently: wherever a source wrote an email, a phone, a date of birth or an enum
    value (Segment message and device type, HubSpot lifecycle stage, Shopify financial status and
    currency) and the staged column is null, the quarantine holds that record under a rule for that
    column. A second route to the routing the quarantine model does by its flags: it compares what was
    sent with what was staged. Returns the records that lost a value without a quarantine entry.
#}
{%- set person_models = [
    {'model': 'stg_hubspot__contacts', 'source_system': "'hubspot'", 'table': 'contacts', 'key': 'contact_id',
     'extra': [{'raw': 'lifecycle_stage_raw', 'staged': 'lifecycle_stage', 'column': 'lifecyclestage'}]},
    {'model': 'stg_shopify__customers', 'source_system': "'shopify'", 'table': 'customers', 'key': 'customer_id'},
    {'model': 'stg_shopify__orders', 'source_system': "'shopify'", 'table': 'orders', 'key': 'order_id',
     'extra': [
        {'raw': 'financial_status_raw', 'staged': 'financial_status', 'column': 'financial_status'},
        {'raw': 'currency_raw', 'staged': 'currency', 'column': 'currency'},
     ]},
    {'model': 'stg_segment__events', 'source_system': "'segment'", 'table': 'events', 'key': 'message_id',
     'extra': [
        {'raw': 'event_type_raw', 'staged': 'event_type', 'column': 'type'},
        {'raw': 'device_type_raw', 'staged': 'device_type', 'column': 'context.device.type'},
     ]},
] -%}
{#- every CSV drop: its raw table is named after it -#}
{%- do person_models.append(
    {'model': 'base_csv_contacts__contact_rows', 'source_system': 'source_system', 'table_expr': 'source_system',
     'key': 'record_key'}
) -%}
{%- set fields = [
    {'raw': 'email_raw', 'staged': 'email', 'column': 'email'},
    {'raw': 'phone_raw', 'staged': 'phone_e164', 'column': 'phone'},
    {'raw': 'date_of_birth_raw', 'staged': 'date_of_birth', 'column': 'date_of_birth'},
] -%}

with

lost_values as (
    {% for model in person_models %}
        {% for field in fields + model.get('extra', []) %}
            select
                {{ model.source_system }} as source_system,
                {{ model.get('table_expr') or "'" ~ model.table ~ "'" }} as source_table,
                cast({{ model.key }} as {{ dbt.type_string() }}) as record_key,
                '{{ field.column }}' as column_name,
                cast({{ field.raw }} as {{ dbt.type_string() }}) as raw_value
            from {{ ref(model.model) }}
            where
                {{ customer360.clean_text(field.raw) }} is not null
                and {{ field.staged }} is null
            union all
        {% endfor %}
    {% endfor %}
    {#- closes the chain of unions: a typed empty row set #}
    select
        cast(null as {{ dbt.type_string() }}) as source_system,
        cast(null as {{ dbt.type_string() }}) as source_table,
        cast(null as {{ dbt.type_string() }}) as record_key,
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as raw_value
    where 1 = 0
)

select lost_values.*
from lost_values
where not exists (
    select 1
    from {{ ref('int_quality__quarantine') }} as quarantine
    where
        quarantine.source_system = lost_values.source_system
        and quarantine.source_table = lost_values.source_table
        and quarantine.record_key = lost_values.record_key
        and quarantine.column_name = lost_values.column_name
)
