{#
    The m/u probabilities in force, each level's Fellegi-Sunter weight log2(m / u), and the prior
    (row comparison 'prior', level 'match': m is the prior λ, the weight log2(λ / (1 - λ))).

    var identity_match_weights_source:
      'estimated'  (default) learnt from this warehouse's records at build time
                   (int_identity__match_weight_estimates: u from random pairs and value counts, m and
                   the prior by EM); a comparison no training block could learn keeps the seed's m;
      'seed'       the fixed values of seeds/identity/identity_match_weights.csv, with the learnt prior
                   (the seed has none).
    Level 'null' (a side has no value) always weighs 0.
#}

with

estimated as (
    select * from {{ ref('int_identity__match_weight_estimates') }}
),

chosen as (
    {% if var('identity_match_weights_source') == 'estimated' -%}
        select
            comparison,
            level,
            m_probability,
            u_probability,
            m_from,
            u_from
        from estimated
    {%- elif var('identity_match_weights_source') == 'seed' -%}
        select
            comparison,
            level,
            m_probability,
            u_probability,
            'seed' as m_from,
            'seed' as u_from
        from {{ ref('identity_match_weights') }}
        union all
        select
            comparison,
            level,
            m_probability,
            u_probability,
            m_from,
            u_from
        from estimated
        where comparison = 'prior'
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var identity_match_weights_source must be 'estimated' or 'seed', got "
            ~ var('identity_match_weights_source')) }}
    {%- endif %}
)

select
    comparison || '.' || level as parameter_key,
    comparison,
    level,
    m_probability,
    u_probability,
    case when level = 'null' then 0.0 else log2(m_probability / u_probability) end as match_weight,
    m_from,
    u_from
from chosen
