{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{#- What a record's identifiers depend on besides its observations, HubSpot's merges and the exclusions seed: this file,
    the sharing cap and the engine (macro identity_logic_fingerprint). Part of every record's state. -#}
{%- set identifiers_logic_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code ~ '|' ~ var('identity_max_records_per_identifier')
    ~ identity_record_key("'hubspot'", 'contact_id') ~ customer360.identity_rows_fingerprint('part')
) %}
{%- set has_states = 'record_state' in stored_columns %}
{%- set stored_for_touched = 'stored_states' if has_states else 'stored_identifiers' %}
{%- set identifier_columns = [
    'record_key', 'identifier_type', 'identifier_value', 'is_role_email', 'is_excluded', 'records_sharing',
    'last_observed_at', 'guard_reason', 'is_usable', 'record_state', 'changed_at'
] %}

with

observations as (
    select * from {{ ref('int_identity__observations') }}
),

contact_merges as (
    select * from {{ ref('stg_hubspot__contact_merges') }}
),

exclusions as (
    select
        lower(trim(identifier_type)) as identifier_type,
        lower(trim(identifier_value)) as identifier_value,
        -- the same text in every build when the seed lists a value twice
        min(reason) as reason
    from {{ ref('identity_exclusions') }}
    group by lower(trim(identifier_type)), lower(trim(identifier_value))
),

{% if is_incremental() and 'record_state' in stored_columns -%}
    stored_identifiers as (
        select * from {{ this }}
    ),

    stored_states as (
        -- one state per record (every row of a record is written with it)
        select distinct
            record_key,
            record_state
        from {{ this }}
    ),
{%- elif is_incremental() %}
    stored_identifiers as (
        -- a table from before the states existed: every record is touched (below)
        select
            *,
            cast(null as {{ dbt.type_bigint() }}) as record_state
        from {{ this }}
    ),
{%- endif %}

merge_identifiers as (
    -- HubSpot states the merge: the surviving contact also carries the ids merged into it.
    select
        {{ identity_record_key("'hubspot'", 'cast(contact_id as varchar)') }} as record_key,
        cast(merged_contact_id as varchar) as merged_contact_id
    from contact_merges
    where merged_contact_id is not null
),

exclusions_fingerprint as (
    select {{ customer360.identity_rows_fingerprint('hash(identifier_type, identifier_value, reason)') }} as fingerprint
    from exclusions
),

state_parts as (
    -- what a record's identifiers are made of: the observations' identifier columns, its merges, the seed and the logic
    select
        record_key,
        {{ customer360.identity_rows_fingerprint(
            'hash(observed_at, email_match_key, is_role_email, phone_e164, shopify_customer_id, shopify_order_id, '
            ~ 'source_system, source_record_id)'
        ) }} as part_fingerprint
    from observations
    group by record_key
    union all
    select
        record_key,
        {{ customer360.identity_rows_fingerprint('hash(merged_contact_id)') }} as part_fingerprint
    from merge_identifiers
    group by record_key
),

record_states as (
    select
        state_parts.record_key,
        hash(
            {{ customer360.identity_rows_fingerprint('state_parts.part_fingerprint') }},
            any_value(exclusions_fingerprint.fingerprint),
            {{ identifiers_logic_fingerprint }}
        ) as record_state
    from state_parts
    cross join exclusions_fingerprint
    group by state_parts.record_key
),

touched as (
    -- records whose state moved since their identifiers were stored, new records and records that left: their
    -- identifiers are made again, every other row is kept
    {{ customer360.identity_touched('record_states', stored_for_touched, has_states, 'record_key') | indent(4) }}
),

touched_observations as (
    select observations.*
    from observations
    inner join touched on observations.record_key = touched.record_key
),

raw_identifiers as (
    select
        record_key,
        'email' as identifier_type,
        email_match_key as identifier_value,
        coalesce(is_role_email, false) as is_role_email,
        observed_at
    from touched_observations
    where email_match_key is not null

    union all

    select
        record_key,
        'phone' as identifier_type,
        phone_e164 as identifier_value,
        false as is_role_email,
        observed_at
    from touched_observations
    where phone_e164 is not null

    union all

    select
        record_key,
        'shopify_customer' as identifier_type,
        shopify_customer_id as identifier_value,
        false as is_role_email,
        observed_at
    from touched_observations
    where shopify_customer_id is not null

    union all

    select
        record_key,
        'shopify_order' as identifier_type,
        shopify_order_id as identifier_value,
        false as is_role_email,
        observed_at
    from touched_observations
    where shopify_order_id is not null

    union all

    select
        record_key,
        'hubspot_contact' as identifier_type,
        source_record_id as identifier_value,
        false as is_role_email,
        observed_at
    from touched_observations
    where source_system = 'hubspot'

    union all

    select
        merge_identifiers.record_key,
        'hubspot_contact' as identifier_type,
        merge_identifiers.merged_contact_id as identifier_value,
        false as is_role_email,
        cast(null as timestamp) as observed_at
    from merge_identifiers
    inner join touched on merge_identifiers.record_key = touched.record_key
),

new_identifiers as (
    select
        raw_identifiers.record_key,
        raw_identifiers.identifier_type,
        raw_identifiers.identifier_value,
        bool_or(raw_identifiers.is_role_email) as is_role_email,
        max(raw_identifiers.observed_at) as last_observed_at,
        any_value(record_states.record_state) as record_state
    from raw_identifiers
    inner join record_states on raw_identifiers.record_key = record_states.record_key
    group by raw_identifiers.record_key, raw_identifiers.identifier_type, raw_identifiers.identifier_value
),

{% if is_incremental() %}
    touched_values as (
        -- the values a touched record gains or loses: only their counts can move
        select
            identifier_type,
            identifier_value
        from new_identifiers
        union
        select
            stored_identifiers.identifier_type,
            stored_identifiers.identifier_value
        from stored_identifiers
        inner join touched on stored_identifiers.record_key = touched.record_key
    ),

    value_members as (
        -- every row of a touched value as it will be: the kept rows of untouched records, and the new rows
        select
            stored_identifiers.record_key,
            stored_identifiers.identifier_type,
            stored_identifiers.identifier_value,
            stored_identifiers.is_role_email,
            stored_identifiers.last_observed_at,
            stored_identifiers.record_state,
            stored_identifiers.records_sharing as stored_records_sharing
        from stored_identifiers
        inner join touched_values
            on
                stored_identifiers.identifier_type = touched_values.identifier_type
                and stored_identifiers.identifier_value = touched_values.identifier_value
        left join touched on stored_identifiers.record_key = touched.record_key
        where touched.record_key is null
        union all
        select
            *,
            null as stored_records_sharing
        from new_identifiers
    ),
{% else %}
    value_members as (
        select
            *,
            null as stored_records_sharing
        from new_identifiers
    ),
{% endif %}

shared as (
    select
        *,
        count(*) over (partition by identifier_type, identifier_value) as records_sharing
    from value_members
),

changed as (
    -- new rows, and kept rows whose count moved (written again by the strategy)
    select *
    from shared
    where stored_records_sharing is null or stored_records_sharing <> records_sharing
),

guarded as (
    select
        changed.record_key,
        changed.identifier_type,
        changed.identifier_value,
        changed.is_role_email,
        exclusions.identifier_value is not null as is_excluded,
        changed.records_sharing,
        changed.last_observed_at,
        case
            when changed.is_role_email then 'role_email'
            when exclusions.identifier_value is not null
                then 'excluded: ' || coalesce(exclusions.reason, 'identity_exclusions seed')
            when changed.records_sharing > {{ var('identity_max_records_per_identifier') }}
                then 'shared_by_too_many_records'
        end as guard_reason,
        guard_reason is null as is_usable,
        changed.record_state,
        -- when the row was written: int_identity__deterministic_edges pairs again the values written since its build
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as changed_at
    from changed
    left join exclusions
        on
            changed.identifier_type = exclusions.identifier_type
            and lower(changed.identifier_value) = exclusions.identifier_value
),

final as (
    select {{ identifier_columns | join(', ') }}
    from guarded
    {%- if is_incremental() %}
        union all
        -- one marker per touched record (no value): the strategy deletes the record's stored rows; markers never land
        select
            record_key,
            null as identifier_type,
            null as identifier_value,
            null as is_role_email,
            null as is_excluded,
            null as records_sharing,
            null as last_observed_at,
            null as guard_reason,
            null as is_usable,
            null as record_state,
            null as changed_at
        from touched
    {%- endif %}
)

select * from final
