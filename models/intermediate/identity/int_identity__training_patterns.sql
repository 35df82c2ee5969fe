{#
    The training data of the matcher's expectation-maximisation (EM): how many record pairs show each
    distinct comparison pattern (one level per comparison), per training block.

    A training block (var identity_em_training_blocks) is a set of pairs that agree on a key, for
    example the same date of birth. Inside it the key's own comparisons are fixed, so EM learns the
    m-probabilities of the *other* comparisons there, with u held at the values measured over random
    pairs (int_identity__u_probabilities): among different people, agreeing on a date of birth says
    nothing about their names, so u stays valid inside the block. Each block's key columns must not
    overlap the comparisons it trains (declared in the var as `fixes`).

    Pairs are between records in different strong clusters: exactly the population the scored matcher
    sees, so the learnt m and prior describe the pairs still to decide. Blocks larger than
    var identity_max_block_size are left out (they are counted in skipped_pairs). A block with more
    than var identity_em_max_pairs_per_block pairs is sampled (by a hash of the pair); block_pairs
    keeps its full size, which the prior needs.

    A block's `ignores` are comparisons that depend on its key among different people (namesakes live
    in the same places more often than random pairs), so the random-pair u does not hold inside it.
    Each pattern is therefore also split by is_certainly_different: both dates of birth known, in
    different years and more than one slip apart (two people, whatever else they share). The weights
    model counts the ignored comparisons' u *inside the block* over those pairs, and the block learns
    their m with it.

    Besides the patterns, each row carries the figures int_identity__match_weight_estimates needs to
    turn the block's match share into the prior: records with the key, all records, all pairs between
    different strong clusters. EM over a few hundred pattern counts is cheap at any number of records.
#}

{%- set blocks = var('identity_em_training_blocks') %}
{%- set comparisons = identity_comparison_names() %}

with

records as (
    select
        records.*,
        clusters.strong_cluster_id
    from {{ ref('int_identity__source_records') }} as records
    inner join {{ ref('int_identity__strong_clusters') }} as clusters on records.record_id = clusters.record_id
),

strong_cluster_sizes as (
    select count(*) as size
    from records
    group by strong_cluster_id
),

population as (
    select
        sum(size) as total_records,
        (sum(size) * (sum(size) - 1) - sum(size * (size - 1))) / 2 as population_pairs
    from strong_cluster_sizes
),

block_keys as (
    {%- for block_name, block in blocks.items() %}
        {%- set ignored = block.get("ignores", []) | join(",") %}
        select
            '{{ block_name }}' as training_block,
            '{{ block.fixes | join(",") }}' as fixed_comparisons,
            '{{ ignored }}' as ignored_comparisons,
            record_id,
            strong_cluster_id,
            {{ block.key }} as block_key
        from records
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

sized as (
    select
        *,
        count(*) over (partition by training_block, block_key) as block_size
    from block_keys
    where block_key is not null
),

block_stats as (
    select
        training_block,
        count(*) as block_records,
        coalesce(sum(block_size - 1) filter (where block_size > {{ var('identity_max_block_size') }}), 0) / 2
            as skipped_pairs
    from sized
    group by training_block
),

all_pairs as (
    select
        a.training_block,
        a.fixed_comparisons,
        a.ignored_comparisons,
        a.record_id as record_id_a,
        b.record_id as record_id_b
    from sized as a
    inner join sized as b
        on
            a.training_block = b.training_block
            and a.block_key = b.block_key
            and a.record_id < b.record_id
            and a.strong_cluster_id <> b.strong_cluster_id
    where a.block_size <= {{ var('identity_max_block_size') }}
),

block_pairs as (
    select
        training_block,
        count(*) as block_pairs
    from all_pairs
    group by training_block
),

pairs as (
    -- A fixed, hash-chosen sample of at most var identity_em_max_pairs_per_block pairs per block: the
    -- pattern shares (all that EM needs) barely move, the cost stays flat at any size.
    select all_pairs.*
    from all_pairs
    inner join block_pairs on all_pairs.training_block = block_pairs.training_block
    where
        block_pairs.block_pairs <= {{ var('identity_em_max_pairs_per_block') }}
        or hash(all_pairs.record_id_a, all_pairs.record_id_b) % 1000000
        < 1000000.0 * {{ var('identity_em_max_pairs_per_block') }} / block_pairs.block_pairs
),

compared as (
    select
        pairs.training_block,
        pairs.fixed_comparisons,
        pairs.ignored_comparisons,
        coalesce(
            year(a.date_of_birth) <> year(b.date_of_birth)
            and not {{ identity_dates_within_a_slip('a.date_of_birth', 'b.date_of_birth') }},
            false
        ) as is_certainly_different,
        {{ identity_comparison_levels('a', 'b') }}
    from pairs
    inner join records as a on pairs.record_id_a = a.record_id
    inner join records as b on pairs.record_id_b = b.record_id
),

patterns as (
    select
        training_block,
        fixed_comparisons,
        ignored_comparisons,
        is_certainly_different,
        {%- for comparison in comparisons %}
            {{ comparison }}_level,
        {%- endfor %}
        count(*) as pairs
    from compared
    group by all
)

select
    concat_ws(
        '|',
        patterns.training_block,
        {%- for comparison in comparisons %}
            patterns.{{ comparison }}_level,
        {%- endfor %}
        case when patterns.is_certainly_different then 'two_people' else 'undecided' end
    ) as pattern_key,
    patterns.training_block,
    patterns.fixed_comparisons,
    patterns.ignored_comparisons,
    patterns.is_certainly_different,
    {%- for comparison in comparisons %}
        patterns.{{ comparison }}_level,
    {%- endfor %}
    patterns.pairs,
    block_pairs.block_pairs,
    block_stats.block_records,
    block_stats.skipped_pairs,
    population.total_records,
    population.population_pairs
from patterns
inner join block_stats on patterns.training_block = block_stats.training_block
inner join block_pairs on patterns.training_block = block_pairs.training_block
cross join population
