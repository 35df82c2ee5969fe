{%- set rules = var('identity_blocking_rules') %}

with

block_keys as (
    select * from {{ ref('int_identity__block_keys') }}
),

strong_clusters as (
    select
        record_id,
        strong_cluster_id
    from {{ ref('int_identity__strong_clusters') }}
),

kept as (
    -- each rule is one bit of an integer
    select
        block_keys.record_id,
        cast(1 as bigint) << (block_keys.rule_order - 1) as rule_bit,
        block_keys.block_id,
        strong_clusters.strong_cluster_id
    from block_keys
    inner join strong_clusters on block_keys.record_id = strong_clusters.record_id
    where block_keys.is_compared
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
