{#
    SCD2 integrity of every snapshot: per key, no two versions' validity windows overlap
    ([dbt_valid_from, dbt_valid_to), the current version ending at dbt_valid_to_current = 9999-12-31),
    no window is empty or reversed, and at most one version is current.
#}

{%- set snapshots = [
    ('customers_snapshot', ['customer_id']),
    ('email_consent_snapshot', ['source_system', 'source_record_id']),
    ('customer_identities_snapshot', ['source_system', 'source_record_id']),
] -%}

{% for name, keys in snapshots %}
    {%- set key_parts = [] -%}
    {%- set earlier_key_parts = [] -%}
    {%- for key in keys -%}
        {%- do key_parts.append(dbt.cast(key, dbt.type_string())) -%}
        {%- do earlier_key_parts.append(dbt.cast('earlier.' ~ key, dbt.type_string())) -%}
        {%- if not loop.last %}{% do key_parts.append("'|'") %}{% do earlier_key_parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {%- set key_expr = dbt.concat(key_parts) -%}
    {%- set join_keys = [] -%}
    {%- for key in keys -%}
        {%- do join_keys.append('earlier.' ~ key ~ ' = later.' ~ key) -%}
    {%- endfor -%}
    {%- set earlier_key_expr = dbt.concat(earlier_key_parts) -%}
    select
        '{{ name }}' as snapshot_name,
        {{ earlier_key_expr }} as snapshot_key,
        'overlapping versions' as problem,
        earlier.dbt_scd_id
    from {{ ref(name) }} as earlier
    inner join {{ ref(name) }} as later
        on
            {{ join_keys | join(' and ') }}
            and earlier.dbt_scd_id <> later.dbt_scd_id
            and earlier.dbt_valid_from <= later.dbt_valid_from
            and earlier.dbt_valid_to > later.dbt_valid_from
    union all
    select
        '{{ name }}' as snapshot_name,
        {{ key_expr }} as snapshot_key,
        'empty or reversed window' as problem,
        dbt_scd_id
    from {{ ref(name) }}
    where dbt_valid_to is null or dbt_valid_to <= dbt_valid_from
    union all
    select
        '{{ name }}' as snapshot_name,
        {{ key_expr }} as snapshot_key,
        'several current versions' as problem,
        min(dbt_scd_id) as dbt_scd_id
    from {{ ref(name) }}
    where dbt_valid_to = cast('9999-12-31' as {{ dbt.type_timestamp() }})
    group by {{ keys | join(', ') }}
    having count(*) > 1
    {% if not loop.last %}union all{% endif %}
{% endfor %}
