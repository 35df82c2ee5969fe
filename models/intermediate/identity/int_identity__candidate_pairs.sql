{%- set rules = var('identity_blocking_rules') %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

strong_clusters as (
    select
        record_id,
        strong_cluster_id
    from {{ ref('int_identity__strong_clusters') }}
),

block_keys as (
    {{ identity_blocking_keys('records', ['record_id']) }}
),

keyed as (
    -- blocks by a 64-bit hash of (rule, key): integer joins, not long strings (a collision could only
    -- add pairs to score, never lose one); each rule is one bit of an integer
    select
        record_id,
        cast(1 as bigint) << (rule_order - 1) as rule_bit,
        hash(rule_order, block_key) as block_id
    from block_keys
),

small_blocks as (
    select block_id
    from keyed
    group by block_id
    having count(*) <= {{ var('identity_max_block_size') }}
),

kept as (
    select
        keyed.*,
        strong_clusters.strong_cluster_id
    from keyed
    semi join small_blocks on keyed.block_id = small_blocks.block_id
    inner join strong_clusters on keyed.record_id = strong_clusters.record_id
),

pairs as (
    -- under a rule with several keys two records may share more than one: bit_or does not mind
    select
        a.record_id as record_id_a,
        b.record_id as record_id_b,
        bit_or(a.rule_bit) as rule_mask
    from kept as a
    inner join kept as b
        on
            a.block_id = b.block_id
            and a.record_id < b.record_id
            and a.strong_cluster_id <> b.strong_cluster_id
    group by a.record_id, b.record_id
),

final as (
    select
        record_id_a,
        record_id_b,
        case
            {%- for rule_name in rules.keys() %}
                when rule_mask & {{ 2 ** (loop.index - 1) }} <> 0 then '{{ rule_name }}'
            {%- endfor %}
        end as blocking_rule,
        concat_ws(
            ',',
            {%- for rule_name in rules.keys() %}
                case when rule_mask & {{ 2 ** (loop.index - 1) }} <> 0 then '{{ rule_name }}' end
                {%- if not loop.last %},{% endif %}
            {%- endfor %}
        ) as blocking_rules,
        rule_mask
    from pairs
)

select * from final
