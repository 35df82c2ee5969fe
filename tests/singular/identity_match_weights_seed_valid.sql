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
    select
        expected_levels.comparison,
        expected_levels.level
    from (
        values
        ('first_name', 'exact'), ('first_name', 'fuzzy_high'), ('first_name', 'fuzzy_low'),
        ('first_name', 'different'), ('first_name', 'null'),
        ('last_name', 'exact'), ('last_name', 'exact_at_home'), ('last_name', 'fuzzy_high'),
        ('last_name', 'fuzzy_low'), ('last_name', 'different'), ('last_name', 'null'),
        ('date_of_birth', 'exact'), ('date_of_birth', 'typo'), ('date_of_birth', 'different'),
        ('date_of_birth', 'null'),
        ('email', 'exact'), ('email', 'same_local_part'), ('email', 'same_number'), ('email', 'different'),
        ('email', 'null'),
        ('phone', 'exact'), ('phone', 'exact_at_home'), ('phone', 'different'), ('phone', 'null'),
        ('location', 'address_exact'), ('location', 'address_fuzzy'), ('location', 'postal_code'),
        ('location', 'city'), ('location', 'different'), ('location', 'null')
    ) as expected_levels (comparison, level)
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
