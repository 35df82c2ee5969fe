{#
    Blocking: the pairs of source records worth scoring, without comparing every record to every other.

    Each rule in var identity_blocking_rules is a key expression over a record's columns (null when a
    part is missing); two records are a candidate pair when they share a key under some rule. Pairs
    already in the same strong cluster are not scored again. A key shared by more than
    var identity_max_block_size records is skipped (it would cost n^2 comparisons and is never specific
    enough to link on its own); the other rules still bring such records together.

    blocking_rule is the first rule (in var order) that produced the pair; blocking_rules lists them all.
#}

{%- set rules = var('identity_blocking_rules') %}

with

records as (
    select
        records.*,
        clusters.strong_cluster_id
    from {{ ref('int_identity__source_records') }} as records
    inner join {{ ref('int_identity__strong_clusters') }} as clusters on records.record_id = clusters.record_id
),

block_keys as (
    {%- for rule_name, key_expression in rules.items() %}
        select
            '{{ rule_name }}' as blocking_rule,
            {{ loop.index }} as rule_order,
            record_id,
            strong_cluster_id,
            {{ key_expression }} as block_key
        from records
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

sized as (
    select
        *,
        count(*) over (partition by blocking_rule, block_key) as block_size
    from block_keys
    where block_key is not null
),

pairs as (
    select
        a.record_id as record_id_a,
        b.record_id as record_id_b,
        a.blocking_rule,
        a.rule_order
    from sized as a
    inner join sized as b
        on
            a.blocking_rule = b.blocking_rule
            and a.block_key = b.block_key
            and a.record_id < b.record_id
            and a.strong_cluster_id <> b.strong_cluster_id
    where a.block_size <= {{ var('identity_max_block_size') }}
)

select
    record_id_a,
    record_id_b,
    arg_min(blocking_rule, rule_order) as blocking_rule,
    string_agg(blocking_rule, ',' order by rule_order) as blocking_rules
from pairs
group by record_id_a, record_id_b
