{#
    Blocking: the pairs of source records worth scoring, without comparing every record to every other.

    Each rule in var identity_blocking_rules is a key expression over a record's columns (null when a
    part is missing), or a list of them (macro identity_blocking_keys); two records are a candidate pair
    when they share a key under some rule. Pairs
    already in the same strong cluster are not scored again. A key shared by more than
    var identity_max_block_size records is skipped (it would cost n^2 comparisons and is never specific
    enough to link on its own); the other rules still bring such records together, and the skipped blocks
    are counted in int_identity__blocking_rule_pairs (test identity_no_blocking_block_skipped warns).

    blocking_rule is the first rule (in var order) that produced the pair; blocking_rules lists them all.
#}

with

records as (
    select
        records.*,
        clusters.strong_cluster_id
    from {{ ref('int_identity__source_records') }} as records
    inner join {{ ref('int_identity__strong_clusters') }} as clusters on records.record_id = clusters.record_id
),

block_keys as (
    {{ identity_blocking_keys('records', ['record_id', 'strong_cluster_id']) }}
),

keyed as (
    -- blocks by a 64-bit hash of (rule, key): integer joins, not long strings (a collision could only
    -- add pairs to score, never lose one)
    select
        record_id,
        strong_cluster_id,
        blocking_rule,
        rule_order,
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
    select keyed.*
    from keyed
    semi join small_blocks on keyed.block_id = small_blocks.block_id
),

pairs as (
    -- under a rule with several keys two records may share more than one: the aggregates below
    -- (arg_min, bool_or) do not mind the repeats
    select
        a.record_id as record_id_a,
        b.record_id as record_id_b,
        a.blocking_rule,
        a.rule_order
    from kept as a
    inner join kept as b
        on
            a.block_id = b.block_id
            and a.record_id < b.record_id
            and a.strong_cluster_id <> b.strong_cluster_id
)

select
    record_id_a,
    record_id_b,
    arg_min(blocking_rule, rule_order) as blocking_rule,
    -- in rule order, without an ordered aggregate (slow on millions of pairs)
    concat_ws(
        ',',
        {%- for rule_name in var('identity_blocking_rules').keys() %}
            case when bool_or(rule_order = {{ loop.index }}) then '{{ rule_name }}' end
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    ) as blocking_rules
from pairs
group by record_id_a, record_id_b
