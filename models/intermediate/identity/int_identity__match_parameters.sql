{%- set tf_columns = customer360.identity_term_frequency_columns() %}
{%- set relearn_share = var('identity_parameters_relearn_share') %}
{%- set seed_row_hash = customer360.identity_row_hash('match_weight_seed') %}
{%- set parameter_columns = [
    'parameter_kind', 'comparison', 'level', 'term_value', 'blocking_rule', 'rule_order', 'm_probability',
    'u_probability', 'term_frequency', 'block_size_cap', 'learnt_at', 'records_when_learnt', 'learning_fingerprint'
] %}
{#- What the values are learnt by: this file, the models that learn them (block caps, u, training patterns, EM),
    the comparison and blocking macros they render, and the vars that steer them; with the seed's rows (below). A
    change learns them again at once. -#}
{%- set learning_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code
    ~ customer360.identity_models_code([
        'int_identity__block_keys', 'int_identity__u_probabilities', 'int_identity__training_patterns',
        'int_identity__match_weight_estimates'
    ])
    ~ customer360.identity_comparison_features('a', 'b')
    ~ customer360.identity_comparison_levels()
    ~ customer360.identity_dates_within_a_slip('a', 'b')
    ~ customer360.identity_blocking_keys('records', ['record_id'])
    ~ tojson([
        customer360.identity_comparison_names(), tf_columns,
        var('identity_match_weights_source'), var('identity_blocking_rules'), var('identity_max_block_size'),
        var('identity_max_pairs_per_record'), var('identity_u_sample_records'), var('identity_em_training_blocks'),
        var('identity_em_max_pairs_per_block'), var('identity_em_max_iterations'), var('identity_em_tolerance'),
        var('identity_min_pairs_for_estimate'), var('identity_name_similarity_high'),
        var('identity_name_similarity_low')
    ])
) %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

block_keys as (
    select * from {{ ref('int_identity__block_keys') }}
),

match_weight_seed as (
    select * from {{ ref('identity_match_weights') }}
),

erasures as (
    select * from {{ source('privacy', 'erasure_blocks') }}
),

estimates as (
    select * from {{ ref('int_identity__match_weight_estimates') }}
),

weights as (
    -- the m/u in force (var identity_match_weights_source): learnt at build time, or the seed's fixed
    -- values with the learnt prior (the seed has none)
    {% if var('identity_match_weights_source') == 'estimated' -%}
        select
            comparison,
            level,
            m_probability,
            u_probability
        from estimates
    {%- elif var('identity_match_weights_source') == 'seed' -%}
        select
            comparison,
            level,
            m_probability,
            u_probability
        from match_weight_seed
        union all
        select
            comparison,
            level,
            m_probability,
            u_probability
        from estimates
        where comparison = 'prior'
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var identity_match_weights_source must be 'estimated' or 'seed', got "
            ~ var('identity_match_weights_source')) }}
    {%- endif %}
),

term_counts as (
    -- how common each first and last name is among source records
    {%- for comparison, column in tf_columns.items() %}
        select
            '{{ comparison }}' as comparison,
            {{ column }} as term_value,
            count(*) as records
        from records
        where {{ column }} is not null
        group by {{ column }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

term_frequencies as (
    -- u of an exact agreement on the value: records with it / records with any value
    select
        comparison,
        term_value,
        records / sum(records) over (partition by comparison) as term_frequency
    from term_counts
),

block_caps as (
    select
        rule_order,
        any_value(blocking_rule) as blocking_rule,
        any_value(learnt_block_size_cap) as block_size_cap
    from block_keys
    group by rule_order
),

learnt_values as (
    select
        'weight' as parameter_kind,
        comparison,
        level,
        cast(null as {{ dbt.type_string() }}) as term_value,
        cast(null as {{ dbt.type_string() }}) as blocking_rule,
        cast(null as {{ dbt.type_int() }}) as rule_order,
        m_probability,
        u_probability,
        cast(null as {{ dbt.type_float() }}) as term_frequency,
        cast(null as {{ dbt.type_bigint() }}) as block_size_cap
    from weights
    union all
    select
        'term_frequency' as parameter_kind,
        comparison,
        null as level,
        term_value,
        null as blocking_rule,
        null as rule_order,
        null as m_probability,
        null as u_probability,
        term_frequency,
        null as block_size_cap
    from term_frequencies
    union all
    select
        'block_size_cap' as parameter_kind,
        null as comparison,
        null as level,
        null as term_value,
        blocking_rule,
        rule_order,
        null as m_probability,
        null as u_probability,
        null as term_frequency,
        block_size_cap
    from block_caps
),

current_record_count as (
    select count(*) as records from records
),

learning_logic as (
    -- the seed's m/u stand in for the estimates (var identity_match_weights_source: seed, or a level no training
    -- block taught): an edit to it learns again, as a change of the logic does. So does an erasure (the last one
    -- that removed rows): the term frequencies hold names, and an erased person's name leaves with the next build.
    select
        concat_ws(
            '|',
            {{ learning_fingerprint }},
            coalesce(cast({{ customer360.identity_rows_fingerprint(seed_row_hash) }} as {{ dbt.type_string() }}), ''),
            coalesce(cast((select max(erasures.blocked_at) from erasures) as {{ dbt.type_string() }}), '')
        ) as learning_fingerprint
    from match_weight_seed
),

learnt as (
    select
        learnt_values.*,
        cast('{{ run_started_at }}' as {{ dbt.type_timestamp() }}) as learnt_at,
        current_record_count.records as records_when_learnt,
        learning_logic.learning_fingerprint
    from learnt_values
    cross join current_record_count
    cross join learning_logic
),

{% if is_incremental() %}
    in_force as (
        select * from {{ this }}
    ),

    in_force_set as (
        select
            count(*) as parameter_rows,
            max(records_when_learnt) as records_when_learnt,
            max(learning_fingerprint) as learning_fingerprint
        from in_force
    ),

    weight_levels_moved as (
        -- a comparison level the estimates have and the frozen set lacks, or the other way round (the comparison
        -- logic changed under the same SQL): counted both ways
        select count(*) as levels
        from (
            (
                select
                    comparison,
                    level
                from learnt
                where parameter_kind = 'weight'
                except
                select
                    comparison,
                    level
                from in_force
                where parameter_kind = 'weight'
            )
            union all
            (
                select
                    comparison,
                    level
                from in_force
                where parameter_kind = 'weight'
                except
                select
                    comparison,
                    level
                from learnt
                where parameter_kind = 'weight'
            )
        ) as moved
    ),

    relearning as (
        -- learn again when nothing is in force, the learning logic, the seed or the last erasure changed, the
        -- comparison levels moved, or the records grew or shrank by more than var
        -- identity_parameters_relearn_share since the values were learnt; never from no records while values are in
        -- force (dbt's --empty, which reads no erasure either) unless an erasure removed them all; a stored value
        -- that cannot be compared (a null) learns again rather than keep nothing
        select
            in_force_set.parameter_rows = 0
            or (
                (current_record_count.records > 0 or (select count(*) from erasures) > 0)
                and coalesce(
                    in_force_set.learning_fingerprint <> learning_logic.learning_fingerprint
                    or weight_levels_moved.levels > 0
                    or abs(current_record_count.records - in_force_set.records_when_learnt)
                    > {{ relearn_share }} * in_force_set.records_when_learnt
                    {%- if relearn_share == 0 %}
                        or true
                    {%- endif %},
                    true
                )
            ) as is_due
        from in_force_set
        cross join weight_levels_moved
        cross join current_record_count
        cross join learning_logic
    ),

    chosen as (
        select {{ parameter_columns | join(', ') }}
        from learnt
        where (select relearning.is_due from relearning)
        union all
        select {{ parameter_columns | join(', ') }}
        from in_force
        where not (select relearning.is_due from relearning)
    ),
{% else %}
    chosen as (
        select * from learnt
    ),
{% endif %}

final as (
    select
        concat_ws(
            '|', parameter_kind, coalesce(comparison, blocking_rule), coalesce(level, term_value, '')
        ) as parameter_key,
        {%- for column in parameter_columns %}
            {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from chosen
)

select * from final
