{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{#- What a record's keys depend on besides its summary row: this file, the keys macro as the rules var renders it,
    and the engine (macro identity_logic_fingerprint). Part of every record's state, so a change keys every record
    again. The summary row itself is named by the fingerprints int_identity__source_records writes it under (its
    observations and its SQL): a row is a function of those, and reading three narrow columns costs a fraction of
    hashing every row whole (1M people: 2.7M wide rows). -#}
{%- set keying_logic_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code ~ customer360.identity_blocking_keys('records_to_key', ['record_id'])
) %}
{%- set has_states = 'record_state' in stored_columns %}
{%- set stored_for_touched = 'stored_states' if has_states else 'stored_keys' %}
{%- set key_columns = ['record_id', 'blocking_rule', 'rule_order', 'block_id', 'block_size', 'record_state'] %}

with

source_records as (
    select * from {{ ref('int_identity__source_records') }}
),

record_fingerprints as (
    select
        record_id,
        observations_fingerprint,
        summary_logic_fingerprint
    from {{ ref('int_identity__source_records') }}
),

{% if is_incremental() -%}
    stored_keys as (
        select
            record_id,
            blocking_rule,
            rule_order,
            block_id,
            block_size,
            {%- if 'record_state' in stored_columns %}
                record_state
            {%- else %}
                -- a table from before the states existed: every record is touched (below)
                null as record_state
            {%- endif %}
        from {{ this }}
    ),

    -- the same table read once for each use (a CTE read twice is materialized whole: 20M rows at 1M people)
    stored_blocks as (
        select
            record_id,
            rule_order,
            block_id
        from {{ this }}
    ),
    {%- if 'record_state' in stored_columns %}

        stored_states as (
            -- one state per record (every key of a record is written with it): the comparison then reads records,
            -- not the many keys
            select distinct
                record_id,
                record_state
            from {{ this }}
        ),
    {%- endif %}
{%- endif %}

state_parts as (
    select
        record_id,
        observations_fingerprint,
        summary_logic_fingerprint,
        {{ keying_logic_fingerprint }} as keying_logic_fingerprint
    from record_fingerprints
),

record_states as (
    -- what a record's keys depend on: its summary row and the keying logic
    select
        record_id,
        {{ customer360.identity_row_hash('state_parts') }} as record_state
    from state_parts
),


touched as (
    -- records whose state moved since their keys were stored, new records (and records without any key: nothing to
    -- redo but a look), and records that left: their keys are made again, every other row is kept
    {{ customer360.identity_touched('record_states', stored_for_touched, has_states) | indent(4) }}
),

records_to_key as (
    select source_records.*
    from source_records
    inner join touched on source_records.record_id = touched.record_id
),

block_keys as (
    {{ identity_blocking_keys('records_to_key', ['record_id']) }}
),

new_keys as (
    -- blocks by a 64-bit hash of (rule, key): integer joins, not long strings (a collision, vanishingly
    -- rare, merges two blocks)
    select
        block_keys.record_id,
        block_keys.blocking_rule,
        block_keys.rule_order,
        hash(block_keys.rule_order, block_keys.block_key) as block_id,
        record_states.record_state
    from block_keys
    inner join record_states on block_keys.record_id = record_states.record_id
),

{% if is_incremental() %}
    touched_blocks as (
        -- the blocks a touched record joins or leaves: only their sizes can move
        select
            rule_order,
            block_id
        from new_keys
        union
        select
            stored_blocks.rule_order,
            stored_blocks.block_id
        from stored_blocks
        inner join touched on stored_blocks.record_id = touched.record_id
    ),

    block_members as (
        -- every row of a touched block as it will be: the kept rows of untouched records, and the new keys
        select
            stored_keys.record_id,
            stored_keys.blocking_rule,
            stored_keys.rule_order,
            stored_keys.block_id,
            stored_keys.record_state,
            stored_keys.block_size as stored_block_size
        from stored_keys
        inner join touched_blocks
            on stored_keys.rule_order = touched_blocks.rule_order and stored_keys.block_id = touched_blocks.block_id
        left join touched on stored_keys.record_id = touched.record_id
        where touched.record_id is null
        union all
        select
            record_id,
            blocking_rule,
            rule_order,
            block_id,
            record_state,
            null as stored_block_size
        from new_keys
    ),
{% else %}
    block_members as (
        select
            *,
            null as stored_block_size
        from new_keys
    ),
{% endif %}

sized as (
    select
        *,
        count(*) over (partition by rule_order, block_id) as block_size
    from block_members
),

changed_rows as (
    -- new keys, and kept rows whose block's size moved (rewritten in place by the strategy)
    select {{ key_columns | join(', ') }}
    from sized
    where stored_block_size is null or stored_block_size <> block_size
),

final as (
    select {{ key_columns | join(', ') }}
    from changed_rows
    {%- if is_incremental() %}
        union all
        -- one marker per touched record (rule_order 0, no rule has it): the strategy deletes the record's stored
        -- keys; markers never land
        select
            record_id,
            null as blocking_rule,
            0 as rule_order,
            null as block_id,
            null as block_size,
            null as record_state
        from touched
    {%- endif %}
)

select * from final
