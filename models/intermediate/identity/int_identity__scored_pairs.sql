{%- set comparisons = identity_comparison_names() %}
{%- set tf_columns = identity_term_frequency_columns() %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

estimates as (
    select * from {{ ref('int_identity__match_weight_estimates') }}
),

candidate_pairs as (
    select * from {{ ref('int_identity__candidate_pairs') }}
),

parameters as (
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
        from {{ ref('identity_match_weights') }}
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

weights as (
    -- each level's Fellegi-Sunter weight log2(m / u); a missing value ('null') weighs 0
    select
        comparison,
        level,
        m_probability,
        case when level = 'null' then 0.0 else log2(m_probability / u_probability) end as match_weight
    from parameters
),

term_counts as (
    -- how common each first and last name is among source records
    {%- for comparison, column in tf_columns.items() %}
        select
            '{{ comparison }}' as comparison,
            {{ column }} as value,
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
        value,
        records / sum(records) over (partition by comparison) as term_frequency
    from term_counts
),

match_prior as (
    select m_probability as match_probability
    from weights
    where comparison = 'prior' and level = 'match'
),

features as (
    select
        pairs.record_id_a,
        pairs.record_id_b,
        a.record_key as record_key_a,
        b.record_key as record_key_b,
        pairs.blocking_rule,
        pairs.blocking_rules,
        {%- for comparison, column in tf_columns.items() %}
            a.{{ column }} as {{ comparison }}_value,
        {%- endfor %}
        a.source_system = b.source_system
        and a.source_system in (
            {%- for source_system in var('identity_exclusive_email_sources') %}'{{ source_system }}', {% endfor %}''
        )
        and a.email_match_key <> b.email_match_key
        and not a.is_role_email and not b.is_role_email as is_exclusive_email_conflict,
        {{ identity_comparison_features('a', 'b') }}
    from candidate_pairs as pairs
    inner join records as a on pairs.record_id_a = a.record_id
    inner join records as b on pairs.record_id_b = b.record_id
),

compared as (
    select
        record_id_a,
        record_id_b,
        record_key_a,
        record_key_b,
        blocking_rule,
        blocking_rules,
        {%- for comparison in tf_columns %}
            {{ comparison }}_value,
        {%- endfor %}
        is_exclusive_email_conflict,
        {{ identity_comparison_levels() }}
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
                    and compared.{{ comparison }}_value = tf_{{ comparison }}.value
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

final as (
    select
        record_id_a,
        record_id_b,
        record_key_a,
        record_key_b,
        blocking_rule,
        blocking_rules,
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
        end as decision
    from judged
)

select * from final
