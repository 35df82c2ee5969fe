{%- set learning_is_due = customer360.identity_learning_is_due() %}
{%- set blocks = var('identity_em_training_blocks') %}
{%- set comparisons = identity_comparison_names() %}

with

source_records as (
    select * from {{ ref('int_identity__source_records') }}
),

strong_clusters as (
    select
        record_id,
        strong_cluster_id
    from {{ ref('int_identity__strong_clusters') }}
),

{% if not learning_is_due -%}
    learnt_before as (
        select * from {{ this }}
    ),
{%- endif %}

records as (
    select
        source_records.*,
        strong_clusters.strong_cluster_id
    from source_records
    inner join strong_clusters on source_records.record_id = strong_clusters.record_id
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

keyed as (
    -- blocks by a 64-bit hash of (training block, key): integer joins, not long strings
    select
        training_block,
        fixed_comparisons,
        ignored_comparisons,
        record_id,
        strong_cluster_id,
        hash(training_block, block_key) as block_id
    from block_keys
    where block_key is not null
),

blocks as (
    -- each block's size and its pairs between different strong clusters, counted without pairing:
    -- all pairs minus the pairs inside one strong cluster
    select
        training_block,
        block_id,
        sum(cluster_records) as block_size,
        (sum(cluster_records) * (sum(cluster_records) - 1) - sum(cluster_records * (cluster_records - 1))) / 2
            as block_pairs
    from (
        select
            training_block,
            block_id,
            strong_cluster_id,
            count(*) as cluster_records
        from keyed
        group by training_block, block_id, strong_cluster_id
    ) as per_cluster
    group by training_block, block_id
),

block_stats as (
    select
        training_block,
        sum(block_size) as block_records,
        cast(coalesce(sum(block_size * (block_size - 1) / 2) filter (
            where block_size > {{ var('identity_max_block_size') }}
        ), 0) as bigint) as skipped_pairs,
        cast(coalesce(sum(block_pairs) filter (where block_size <= {{ var('identity_max_block_size') }}), 0) as bigint)
            as block_pairs
    from blocks
    group by training_block
),

sampled_blocks as (
    -- A fixed, hash-chosen sample of whole blocks holding about var identity_em_max_pairs_per_block
    -- pairs per training block: the pattern shares (all that EM needs) barely move, and the pairs are
    -- only formed inside the chosen blocks, so the cost stays flat at any size.
    select blocks.block_id
    from blocks
    inner join block_stats on blocks.training_block = block_stats.training_block
    where
        blocks.block_size <= {{ var('identity_max_block_size') }}
        and blocks.block_pairs > 0
        and (
            block_stats.block_pairs <= {{ var('identity_em_max_pairs_per_block') }}
            or hash(blocks.block_id) % 1000000
            < 1000000.0 * {{ var('identity_em_max_pairs_per_block') }} / block_stats.block_pairs
        )
),

kept as (
    select keyed.*
    from keyed
    semi join sampled_blocks on keyed.block_id = sampled_blocks.block_id
),

pairs as (
    select
        a.training_block,
        a.fixed_comparisons,
        a.ignored_comparisons,
        a.record_id as record_id_a,
        b.record_id as record_id_b
    from kept as a
    inner join kept as b
        on
            a.block_id = b.block_id
            and a.record_id < b.record_id
            and a.strong_cluster_id <> b.strong_cluster_id
),

features as (
    select
        pairs.training_block,
        pairs.fixed_comparisons,
        pairs.ignored_comparisons,
        {{ identity_comparison_features('a', 'b') }}
    from pairs
    inner join records as a on pairs.record_id_a = a.record_id
    inner join records as b on pairs.record_id_b = b.record_id
),

compared as (
    select
        training_block,
        fixed_comparisons,
        ignored_comparisons,
        -- both dates known, in different years and more than a slip apart: two people
        date_of_birth_level = 'different' as is_certainly_different,
        {{ identity_comparison_levels() }}
    from features
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
),

learnt as (
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
        block_stats.block_pairs,
        block_stats.block_records,
        block_stats.skipped_pairs,
        population.total_records,
        population.population_pairs,
        -- this build's start: int_identity__match_parameters learns only from learners of its own build
        cast('{{ run_started_at }}' as {{ dbt.type_timestamp() }}) as learnt_at
    from patterns
    inner join block_stats on patterns.training_block = block_stats.training_block
    cross join population
),

final as (
    {{ customer360.identity_learnt_or_kept(learning_is_due) }}
)

select * from final
