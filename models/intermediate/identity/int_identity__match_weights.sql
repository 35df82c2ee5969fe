{#
    The m/u probabilities in force, and each level's Fellegi-Sunter weight log2(m / u).

    var identity_match_weights_source:
      'estimated'  (default) from int_identity__match_weight_estimates, i.e. from this warehouse's data;
                   a comparison with fewer than var identity_min_pairs_for_estimate labelled or random
                   pairs keeps the seed values;
      'seed'       the fixed values of seeds/identity/identity_match_weights.csv.
    Level 'null' (a side has no value) always weighs 0. Levels '*_at_home' (same surname / same phone
    for two records at the same home) always come from the seed: their u is the chance that two
    *different people at one home* agree (household members), which random pairs almost never sample,
    so the data cannot estimate it; treated as independent of the shared home, a shared surname or
    landline would count the household twice.
#}

with

seeded as (
    select
        comparison,
        level,
        m_probability,
        u_probability
    from {{ ref('identity_match_weights') }}
),

estimated as (
    select * from {{ ref('int_identity__match_weight_estimates') }}
),

joined as (
    select
        seeded.comparison,
        seeded.level,
        seeded.m_probability as seed_m_probability,
        seeded.u_probability as seed_u_probability,
        estimated.m_probability as estimated_m_probability,
        estimated.u_probability as estimated_u_probability,
        seeded.level not like '%\_at\_home' escape '\'
        and coalesce(estimated.m_total, 0) >= {{ var('identity_min_pairs_for_estimate') }} as m_estimable,
        seeded.level not like '%\_at\_home' escape '\'
        and coalesce(estimated.u_total, 0) >= {{ var('identity_min_pairs_for_estimate') }} as u_estimable
    from seeded
    left join estimated on seeded.comparison = estimated.comparison and seeded.level = estimated.level
),

chosen as (
    select
        comparison,
        level,
        {% if var('identity_match_weights_source') == 'estimated' -%}
            case when m_estimable then estimated_m_probability else seed_m_probability end as m_probability,
            case when u_estimable then estimated_u_probability else seed_u_probability end as u_probability,
            case when m_estimable then 'estimated' else 'seed' end as m_from,
            case when u_estimable then 'estimated' else 'seed' end as u_from
        {%- elif var('identity_match_weights_source') == 'seed' -%}
            seed_m_probability as m_probability,
            seed_u_probability as u_probability,
            'seed' as m_from,
            'seed' as u_from
        {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var identity_match_weights_source must be 'estimated' or 'seed', got "
            ~ var('identity_match_weights_source')) }}
        {%- endif %}
    from joined
)

select
    comparison,
    level,
    m_probability,
    u_probability,
    case when level = 'null' then 0.0 else log2(m_probability / u_probability) end as match_weight,
    m_from,
    u_from
from chosen
