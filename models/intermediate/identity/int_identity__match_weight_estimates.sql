{#
    m and u probabilities estimated from the data itself, per comparison level.

    u = P(level | two different people): the level frequencies among random pairs of records. A fixed,
        hash-ordered sample of var identity_u_sample_records records is compared with itself; true
        matches are a negligible share of random pairs.
    m = P(level | same person): the level frequencies among pairs that a strong deterministic edge
        links (same Shopify id, HubSpot merge, same email ...). For each comparison only edges whose
        rule does not use that comparison's own field are counted (email edges say nothing about how
        often the same person's emails differ).

    Both are smoothed (add-one per level) so no level gets a zero. int_identity__match_weights uses these
    when var identity_match_weights_source is 'estimated', falling back to the seed
    identity_match_weights for a comparison with fewer than var identity_min_pairs_for_estimate pairs.
#}

{%- set comparisons = identity_comparison_names() %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

sampled as (
    select *
    from records
    order by hash(record_key)
    limit {{ var('identity_u_sample_records') }}
),

random_pairs as (
    select {{ identity_comparison_levels('a', 'b') }}
    from sampled as a
    inner join sampled as b on a.record_id < b.record_id
),

labelled_pairs as (
    select
        edges.match_rule,
        {{ identity_comparison_levels('a', 'b') }}
    from {{ ref('int_identity__deterministic_edges') }} as edges
    inner join records as a on edges.record_key_a = a.record_key
    inner join records as b on edges.record_key_b = b.record_key
    where edges.is_strong
),

levels as (
    select comparison, level
    from {{ ref('identity_match_weights') }}
    where level <> 'null'
),

u_counts as (
    {%- for comparison in comparisons %}
    select '{{ comparison }}' as comparison, {{ comparison }}_level as level, count(*) as pairs
    from random_pairs
    where {{ comparison }}_level <> 'null'
    group by all
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

m_counts as (
    {%- for comparison in comparisons %}
    select '{{ comparison }}' as comparison, {{ comparison }}_level as level, count(*) as pairs
    from labelled_pairs
    where
        {{ comparison }}_level <> 'null'
        {%- if comparison == 'email' %}
        and match_rule <> 'email_exact'
        {%- elif comparison in ('phone', 'first_name', 'last_name') %}
        and match_rule <> 'phone_exact_and_name'
        {%- endif %}
    group by all
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

counted as (
    select
        levels.comparison,
        levels.level,
        coalesce(m_counts.pairs, 0) as m_pairs,
        coalesce(u_counts.pairs, 0) as u_pairs,
        sum(coalesce(m_counts.pairs, 0)) over (partition by levels.comparison) as m_total,
        sum(coalesce(u_counts.pairs, 0)) over (partition by levels.comparison) as u_total,
        count(*) over (partition by levels.comparison) as level_count
    from levels
    left join m_counts on levels.comparison = m_counts.comparison and levels.level = m_counts.level
    left join u_counts on levels.comparison = u_counts.comparison and levels.level = u_counts.level
)

select
    comparison,
    level,
    (m_pairs + 1.0) / (m_total + level_count) as m_probability,
    (u_pairs + 1.0) / (u_total + level_count) as u_probability,
    m_pairs,
    m_total,
    u_pairs,
    u_total
from counted
