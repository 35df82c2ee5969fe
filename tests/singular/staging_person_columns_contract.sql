{#
    Every person-describing staging model exposes the person columns of docs/data_contracts.md with
    the contract's names and types, so identity resolution can union them without per-source logic.
    Returns one row per missing or mistyped column.
#}
{%- set contract = {
    'source_system': 'text', 'source_record_id': 'text', 'email': 'text', 'email_match_key': 'text',
    'is_role_email': 'boolean', 'phone_e164': 'text', 'first_name': 'text', 'last_name': 'text',
    'first_name_key': 'text', 'last_name_key': 'text', 'given_name_canonical': 'text', 'date_of_birth': 'date',
    'address_line1': 'text', 'address_line2': 'text', 'city': 'text', 'postal_code': 'text', 'region_code': 'text',
    'country_code': 'text', 'email_consent_state': 'text', 'email_consent_updated_at': 'timestamp',
    'source_created_at': 'timestamp', 'source_updated_at': 'timestamp', 'loaded_at': 'timestamp'
} -%}
{%- set type_families = {
    'text': ['varchar', 'text', 'character varying', 'string'],
    'boolean': ['boolean', 'bool'],
    'date': ['date'],
    'timestamp': ['timestamp', 'timestamp without time zone', 'datetime'],
} -%}
{%- set models = [
    'stg_hubspot__contacts', 'stg_shopify__customers', 'stg_shopify__orders', 'stg_segment__events',
    'stg_csv_contacts__contacts'
] -%}
{%- set problems = [] -%}
{%- if execute -%}
    {%- for model in models -%}
        {%- set columns = {} -%}
        {%- for column in adapter.get_columns_in_relation(ref(model)) -%}
            {#- dtype is the engine's own type name (VARCHAR), data_type a rendered one (character varying(256)). -#}
            {%- do columns.update({column.name | lower: column.dtype | lower}) -%}
        {%- endfor -%}
        {%- for name, family in contract.items() -%}
            {%- if name not in columns -%}
                {%- do problems.append((model, name, 'missing, expected ' ~ family)) -%}
            {%- elif columns[name] not in type_families[family] -%}
                {%- do problems.append((model, name, columns[name] ~ ', expected ' ~ family)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
{%- else -%}
    {#- Parse time: declare the dependencies so the test runs after the models. -#}
    {%- for model in models %}
-- depends_on: {{ ref(model) }}
    {%- endfor -%}
{%- endif %}

{% if problems %}
    {% for model, column, problem in problems %}
        select
            '{{ model }}' as model_name,
            '{{ column }}' as column_name,
            '{{ problem }}' as problem
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
{% else %}
    select
        cast(null as {{ dbt.type_string() }}) as model_name,
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as problem
    where 1 = 0
{% endif %}
