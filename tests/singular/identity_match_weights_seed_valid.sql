-- Seed identity_match_weights: one row per (comparison, level), probabilities in (0, 1], and every
-- level the matcher can produce present (a missing level would silently weigh nothing).
with

seeded as (
    select
        comparison,
        level,
        m_probability,
        u_probability,
        count(*) over (partition by comparison, level) as copies
    from {{ ref('identity_match_weights') }}
),

expected as (
    -- every level macro identity_comparison_levels can produce, plus null
    {%- for comparison, levels in identity_comparison_level_names().items() %}
        {%- for level in levels + ['null'] %}
            select
                '{{ comparison }}' as comparison,
                '{{ level }}' as level
            {% if not loop.last %}union all{% endif %}
        {%- endfor %}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    seeded.comparison,
    seeded.level,
    'duplicate or out of range' as problem
from seeded
where
    seeded.copies > 1
    or not (
        seeded.m_probability > 0 and seeded.m_probability <= 1
        and seeded.u_probability > 0 and seeded.u_probability <= 1
    )

union all

select
    expected.comparison,
    expected.level,
    'missing' as problem
from expected
left join seeded on expected.comparison = seeded.comparison and expected.level = seeded.level
where seeded.level is null
