{#
    Fellegi-Sunter scoring of the candidate pairs (records in different strong clusters).

    For each comparison the pair falls into a level (macro identity_comparison_levels); the level's
    weight is log2(m / u) from int_identity__match_weights, learnt from this warehouse's records. An
    exact first or last name uses the value's own frequency as u (int_identity__term_frequencies), so
    common values count less. match_weight = the learnt prior's log-odds + the comparison weights, and
    match_probability = 2^w / (1 + 2^w). A missing value weighs 0; every disagreement weighs what the
    data says it is worth (a one-digit date slip little, a different date of birth a lot).

    Decision (thresholds are vars in dbt_project.yml):
      accept  match_probability >= identity_match_threshold and no veto
      review  identity_review_threshold <= match_probability < identity_match_threshold, or a vetoed
              pair that would otherwise be accepted (int_identity__review_pairs lists them)
      reject  the rest
    Vetoes are kept for exclusive evidence only: two records of one source system listed in var
    identity_exclusive_email_sources (a system that never holds one person under two addresses) with
    different personal emails.
#}

{%- set comparisons = identity_comparison_names() %}
{%- set tf_columns = identity_term_frequency_columns() %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

weights as (
    select * from {{ ref('int_identity__match_weights') }}
),

term_frequencies as (
    select * from {{ ref('int_identity__term_frequencies') }}
),

match_prior as (
    select m_probability as match_probability
    from weights
    where comparison = 'prior' and level = 'match'
),

compared as (
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
        {{ identity_comparison_levels('a', 'b') }}
    from {{ ref('int_identity__candidate_pairs') }} as pairs
    inner join records as a on pairs.record_id_a = a.record_id
    inner join records as b on pairs.record_id_b = b.record_id
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
)

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
