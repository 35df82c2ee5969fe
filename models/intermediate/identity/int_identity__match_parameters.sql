{%- set tf_columns = customer360.identity_term_frequency_columns() %}
{%- set learners = [
    'int_identity__block_size_caps', 'int_identity__u_probabilities', 'int_identity__training_patterns'
] %}
{#- a learner's table from before the stamps has no learnt_at: it did not learn in this build -#}
{%- set learner_stamp = {} %}
{%- for learner in learners %}
    {%- set stamped = execute and 'learnt_at' in (
        adapter.get_columns_in_relation(ref(learner)) | map(attribute='name') | list) %}
    {%- do learner_stamp.update(
        {learner: 'learnt_at' if stamped else 'cast(null as ' ~ dbt.type_timestamp() ~ ') as learnt_at'}) %}
{%- endfor %}
{%- set parameter_columns = [
    'parameter_kind', 'comparison', 'level', 'term_value', 'blocking_rule', 'rule_order', 'm_probability',
    'u_probability', 'term_frequency', 'block_size_cap', 'learnt_at', 'records_when_learnt', 'learning_fingerprint'
] %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

block_size_caps as (
    select * from {{ ref('int_identity__block_size_caps') }}
),

match_weight_seed as (
    select * from {{ ref('identity_match_weights') }}
),

erasures as (
    select * from {{ source('privacy', 'erasure_blocks') }}
),

learner_stamps as (
    -- when each model that learns last learnt (macro identity_learning_is_due keeps their rows otherwise)
    {%- for learner in learners %}
        select {{ learner_stamp[learner] }}
        from {{ ref(learner) }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

estimates as (
    select * from {{ ref('int_identity__match_weight_estimates') }}
),

{% if is_incremental() -%}
    in_force as (
        select * from {{ this }}
    ),
{%- endif %}

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
        blocking_rule,
        learnt_block_size_cap as block_size_cap
    from block_size_caps
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

{#- the learning rule's CTEs (macro identity_learning_ctes: the record count, the learning fingerprint with the
    seed's rows and the last erasure, and in an incremental run the stored set), shared with the models that learn #}
{{ customer360.identity_learning_ctes(is_incremental()) }}

learners_of_this_build as (
    -- whether every model that learns learnt in this build: values learnt from rows an earlier build kept (a partial
    -- selection, a full refresh of this model alone) get a stamp no build has, so that the next build learns again,
    -- all of them
    select
        coalesce(
            bool_and(learnt_at is not null and learnt_at = cast('{{ run_started_at }}' as {{ dbt.type_timestamp() }})),
            false
        ) as learnt_together
    from learner_stamps
),

learnt as (
    select
        learnt_values.*,
        cast('{{ run_started_at }}' as {{ dbt.type_timestamp() }}) as learnt_at,
        current_record_count.records as records_when_learnt,
        case
            when learners_of_this_build.learnt_together then learning_logic.learning_fingerprint
            else 'learnt from earlier learners|' || learning_logic.learning_fingerprint
        end as learning_fingerprint
    from learnt_values
    cross join current_record_count
    cross join learning_logic
    cross join learners_of_this_build
),

{% if is_incremental() %}
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
        -- learn again when macro identity_learning_due says so, or when the comparison levels moved
        select
            {{ customer360.identity_learning_due('weight_levels_moved.levels > 0') | indent(12) }} as is_due
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
