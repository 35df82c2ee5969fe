{%- set rules = var('identity_blocking_rules') %}
{%- set comparisons = customer360.identity_comparison_names() %}
{%- set tf_columns = customer360.identity_term_frequency_columns() %}
{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{#- What a pair's score depends on besides its records and the parameters: this file, the macros it renders (the
    comparisons, their names, the term-frequency columns) and the vars it reads, and the engine
    (macro identity_logic_fingerprint). Part of every record's state, so a
    change rescores every pair. -#}
{%- set scoring_logic_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code
    ~ customer360.identity_comparison_features('a', 'b')
    ~ customer360.identity_comparison_levels()
    ~ tojson([
        comparisons, tf_columns, rules, var('identity_exclusive_email_sources'), var('identity_match_threshold'),
        var('identity_review_threshold')
    ])
) %}
{%- set block_row_hash = customer360.identity_row_hash('block_flags') %}
{%- set parameter_row_hash = customer360.identity_row_hash('parameters') %}
{%- set pair_columns = ['record_key_a', 'record_key_b', 'blocking_rule', 'blocking_rules', 'rule_mask'] %}
{%- for comparison in comparisons %}
    {%- do pair_columns.extend([comparison ~ '_level', comparison ~ '_weight']) %}
{%- endfor %}
{%- do pair_columns.extend([
    'prior_weight', 'match_weight', 'match_probability', 'veto_reason', 'decision', 'record_state_a', 'record_state_b'
]) %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

block_keys as (
    select * from {{ ref('int_identity__block_keys') }}
),

strong_clusters as (
    select
        record_id,
        strong_cluster_id
    from {{ ref('int_identity__strong_clusters') }}
),

parameters as (
    select * from {{ ref('int_identity__match_parameters') }}
),

compared_blocks as (
    {{ customer360.identity_compared_blocks('block_keys', 'parameters') }}
),

block_flags as (
    -- what a record's pairs depend on in its blocks: which it is in and whether each is compared (not the block's
    -- size: a record joining a compared block touches no other member)
    select
        record_id,
        rule_order,
        block_id,
        is_compared
    from compared_blocks
),

record_blocks as (
    select
        record_id,
        {{ customer360.identity_rows_fingerprint(block_row_hash) }} as blocks_fingerprint
    from block_flags
    group by record_id
),

parameters_in_force as (
    select
        {{ customer360.identity_rows_fingerprint(parameter_row_hash) }} as parameters_fingerprint
    from parameters
),

state_parts as (
    -- everything a record's pairs and their scores depend on: its summary row, its strong cluster (pairs
    -- inside one are not proposed), its blocks with their compared flags, the parameters and the scoring SQL
    select
        records.record_id,
        {{ customer360.identity_row_hash('records') }} as record_hash,
        strong_clusters.strong_cluster_id,
        record_blocks.blocks_fingerprint,
        parameters_in_force.parameters_fingerprint,
        {{ scoring_logic_fingerprint }} as scoring_logic_fingerprint
    from records
    left join strong_clusters on records.record_id = strong_clusters.record_id
    left join record_blocks on records.record_id = record_blocks.record_id
    cross join parameters_in_force
),

record_states as (
    select
        record_id,
        {{ customer360.identity_row_hash('state_parts') }} as record_state
    from state_parts
),

{% if is_incremental() %}
    stored_states as (
        -- the state each record had when its stored pairs were scored (a table from before the states existed has
        -- none: every record it holds is touched)
        {%- for side in ['a', 'b'] %}
            select
                record_id_{{ side }} as record_id,
                {%- if 'record_state_' ~ side in stored_columns %}
                    record_state_{{ side }} as record_state
                {%- else %}
                    cast(null as {{ dbt.type_bigint() }}) as record_state
                {%- endif %}
            from {{ this }}
            {% if not loop.last %}union{% endif %}
        {%- endfor %}
    ),

    touched as (
        -- records whose state moved since their stored pairs were scored, records with no stored pair (new, or
        -- without any pair: nothing to redo but a look), and records that left: their pairs are all proposed and
        -- scored again, every other pair is kept as it is
        {{ customer360.identity_moved_records('record_states', 'stored_states') | indent(8) }}
    ),
{% else %}
    touched as (
        select record_id from record_states
    ),
{% endif %}

kept as (
    -- each rule is one bit of an integer
    select
        compared_blocks.record_id,
        cast(1 as bigint) << (compared_blocks.rule_order - 1) as rule_bit,
        compared_blocks.block_id,
        strong_clusters.strong_cluster_id,
        touched.record_id is not null as is_touched
    from compared_blocks
    inner join strong_clusters on compared_blocks.record_id = strong_clusters.record_id
    left join touched on compared_blocks.record_id = touched.record_id
    where compared_blocks.is_compared
),

pair_rules as (
    -- the pairs with a touched record, each proposed once (from its lower id when both are touched); under a rule
    -- with several keys two records may share more than one: bit_or does not mind
    select
        least(a.record_id, b.record_id) as record_id_a,
        greatest(a.record_id, b.record_id) as record_id_b,
        bit_or(a.rule_bit) as rule_mask
    from kept as a
    inner join kept as b
        on
            a.block_id = b.block_id
            and a.strong_cluster_id <> b.strong_cluster_id
            and a.is_touched
            and (not b.is_touched or a.record_id < b.record_id)
    group by least(a.record_id, b.record_id), greatest(a.record_id, b.record_id)
),

weights as (
    -- each level's Fellegi-Sunter weight log2(m / u); a missing value ('null') weighs 0
    select
        comparison,
        level,
        m_probability,
        case when level = 'null' then 0.0 else log2(m_probability / u_probability) end as match_weight
    from parameters
    where parameter_kind = 'weight'
),

term_frequencies as (
    -- u of an exact agreement on a first or last name: its share of the records when the parameters were learnt
    select
        comparison,
        term_value,
        term_frequency
    from parameters
    where parameter_kind = 'term_frequency'
),

match_prior as (
    select m_probability as match_probability
    from weights
    where comparison = 'prior' and level = 'match'
),

records_with_state as (
    select
        records.*,
        record_states.record_state
    from records
    inner join record_states on records.record_id = record_states.record_id
),

features as (
    select
        pairs.record_id_a,
        pairs.record_id_b,
        a.record_key as record_key_a,
        b.record_key as record_key_b,
        pairs.rule_mask,
        a.record_state as record_state_a,
        b.record_state as record_state_b,
        {%- for comparison, column in tf_columns.items() %}
            a.{{ column }} as {{ comparison }}_value,
        {%- endfor %}
        a.source_system = b.source_system
        and a.source_system in (
            {%- for source_system in var('identity_exclusive_email_sources') %}'{{ source_system }}', {% endfor %}''
        )
        and a.email_match_key <> b.email_match_key
        and not a.is_role_email and not b.is_role_email as is_exclusive_email_conflict,
        {{ customer360.identity_comparison_features('a', 'b') }}
    from pair_rules as pairs
    inner join records_with_state as a on pairs.record_id_a = a.record_id
    inner join records_with_state as b on pairs.record_id_b = b.record_id
),

compared as (
    select
        record_id_a,
        record_id_b,
        record_key_a,
        record_key_b,
        rule_mask,
        record_state_a,
        record_state_b,
        {%- for comparison in tf_columns %}
            {{ comparison }}_value,
        {%- endfor %}
        is_exclusive_email_conflict,
        {{ customer360.identity_comparison_levels() }}
    from features
),

weighed as (
    select
        compared.*,
        {%- for comparison in comparisons %}
            {%- if comparison in tf_columns %}
                case
                    when compared.{{ comparison }}_level = 'exact' and tf_{{ comparison }}.term_frequency is not null
                        then log2(w_{{ comparison }}.m_probability / tf_{{ comparison }}.term_frequency)
                    else w_{{ comparison }}.match_weight
                end as {{ comparison }}_weight,
            {%- else %}
                w_{{ comparison }}.match_weight as {{ comparison }}_weight,
            {%- endif %}
        {%- endfor %}
        log2(match_prior.match_probability / (1 - match_prior.match_probability)) as prior_weight
    from compared
    cross join match_prior
    {%- for comparison in comparisons %}
        left join weights as w_{{ comparison }}
            on
                w_{{ comparison }}.comparison = '{{ comparison }}'
                and compared.{{ comparison }}_level = w_{{ comparison }}.level
        {%- if comparison in tf_columns %}
            left join term_frequencies as tf_{{ comparison }}
                on
                    tf_{{ comparison }}.comparison = '{{ comparison }}'
                    and compared.{{ comparison }}_value = tf_{{ comparison }}.term_value
        {%- endif %}
    {%- endfor %}
),

scored as (
    select
        *,
        prior_weight
        {%- for comparison in comparisons %}
            + coalesce({{ comparison }}_weight, 0)
        {%- endfor %} as match_weight
    from weighed
),

judged as (
    select
        *,
        1.0 / (1.0 + pow(2.0, -match_weight)) as match_probability,
        case when coalesce(is_exclusive_email_conflict, false) then 'exclusive_email_conflict' end as veto_reason
    from scored
),

pairs_scored as (
    select
        record_id_a,
        record_id_b,
        record_key_a,
        record_key_b,
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
        rule_mask,
        {%- for comparison in comparisons %}
            {{ comparison }}_level,
            round({{ comparison }}_weight, 3) as {{ comparison }}_weight,
        {%- endfor %}
        round(prior_weight, 3) as prior_weight,
        match_weight,
        match_probability,
        veto_reason,
        case
            when match_probability >= {{ var('identity_match_threshold') }} and veto_reason is null then 'accept'
            when match_probability >= {{ var('identity_review_threshold') }} then 'review'
            else 'reject'
        end as decision,
        record_state_a,
        record_state_b
    from judged
),

final as (
    select
        record_id_a,
        record_id_b,
        {%- for column in pair_columns %}
            {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from pairs_scored
    {% if is_incremental() %}
        union all
        -- one marker row per touched record (record_id_a = record_id_b): the incremental strategy
        -- identity_replace_touched_pairs deletes every stored pair of these records, then inserts the other rows
        select
            record_id as record_id_a,
            record_id as record_id_b,
            {%- for column in pair_columns %}
                null as {{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from touched
    {% endif %}
)

select * from final
