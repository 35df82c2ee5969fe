{#
    m and u probabilities estimated from the data itself, per comparison level.

    u = P(level | two different people): the level frequencies among random pairs of records. A fixed,
        hash-ordered sample of var identity_u_sample_records records is compared with itself, leaving
        out pairs a strong edge links (known matches).
    m = P(level | same person): the level frequencies among pairs that a strong deterministic edge
        links (same Shopify id, HubSpot merge, same email ...). For each comparison only edges whose
        rule does not use that comparison's own field are counted (email edges say nothing about how
        often the same person's emails differ).

    The scored matcher only sees pairs the deterministic rules did not link, and an exact email always
    links (unless guarded). So for the email comparison the m of the other levels is estimated among
    labelled pairs whose emails are not equal (m conditional on "not the same address"); otherwise a
    shared number in two different addresses would look rare among matches when, among the pairs left
    to score, it is the usual way the same person shows up.

    Email agreement levels (exact, same_local_part, same_number) are too rare among different people
    for a sample: two thousand records see none of them between two people, only the true matches the
    sample happens to contain, so the sampled u was the matches' own rate. For the email comparison u
    is therefore counted exactly, over every pair of records that are certainly two people: both
    dates of birth known and different (with group-bys, no pair enumeration). The assumption is that
    whether two people's addresses share a mailbox name or a number does not depend on whether we
    know their dates of birth. A number many people use (a birth year, "123") shows up there and
    weighs little; a number only one person uses weighs a lot. Location levels (same home, same postal
    code, same city) are counted the same way: at 100k+ records a sampled u cannot fall below the
    sample's floor while the prior keeps falling, so a shared home weighed too little; counted, it is
    the household rate (people at one address with different birthdays).

    Both are smoothed with half a pair per level (Jeffreys prior), so no level gets a zero while a
    level seen in thousands of pairs keeps its frequency. int_identity__match_weights uses these
    when var identity_match_weights_source is 'estimated', falling back to the seed
    identity_match_weights for a comparison with fewer than var identity_min_pairs_for_estimate pairs.
#}

{%- set comparisons = identity_comparison_names() %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

sampled as (
    select
        records.*,
        clusters.strong_cluster_id
    from records
    inner join {{ ref('int_identity__strong_clusters') }} as clusters on records.record_id = clusters.record_id
    order by hash(records.record_key)
    limit {{ var('identity_u_sample_records') }}
),

random_pairs as (
    -- Pairs a strong edge already links are left out: they are known matches, and at a few records
    -- per person they would make rare agreements (same email, same number) look common among
    -- non-matches.
    select
        {{ identity_comparison_levels('a', 'b') }}
    from sampled as a
    inner join sampled as b on a.record_id < b.record_id and a.strong_cluster_id <> b.strong_cluster_id
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

email_dated as (
    -- Records with a comparable (personal) email and a known date of birth.
    select
        date_of_birth,
        email_match_key,
        email_local_part,
        nullif(regexp_extract(email_local_part, '[0-9]{3,}'), '') as email_number
    from records
    where date_of_birth is not null and email_match_key is not null and not is_role_email
),

email_key_groups as (
    -- Records per (key, date of birth), for each key the email levels compare.
    select
        'all' as key_kind,
        '' as key_value,
        date_of_birth,
        count(*) as records
    from email_dated
    group by date_of_birth
    union all
    select
        'email' as key_kind,
        email_match_key as key_value,
        date_of_birth,
        count(*) as records
    from email_dated
    group by email_match_key, date_of_birth
    union all
    select
        'local_part' as key_kind,
        email_local_part as key_value,
        date_of_birth,
        count(*) as records
    from email_dated
    group by email_local_part, date_of_birth
    union all
    select
        'number' as key_kind,
        email_number as key_value,
        date_of_birth,
        count(*) as records
    from email_dated
    where email_number is not null
    group by email_number, date_of_birth
    union all
    select
        'local_part_with_number' as key_kind,
        email_local_part as key_value,
        date_of_birth,
        count(*) as records
    from email_dated
    where email_number is not null
    group by email_local_part, date_of_birth
),

email_key_pairs as (
    -- Pairs sharing the key whose dates of birth differ: all pairs sharing it minus those that also
    -- share the date.
    select
        key_kind,
        key_value,
        (sum(records) * sum(records) - sum(records * records)) / 2 as pairs
    from email_key_groups
    group by key_kind, key_value
),

email_kind_pairs as (
    select
        sum(pairs) filter (where key_kind = 'all') as all_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'email'), 0) as email_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'local_part'), 0) as local_part_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'number'), 0) as number_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'local_part_with_number'), 0) as local_part_with_number_pairs
    from email_key_pairs
),

email_u_counts as (
    -- The levels in the order identity_comparison_levels assigns them: exact email, else same local
    -- part, else same number (with different local parts), else different.
    select
        'email' as comparison,
        email_levels.level,
        cast(email_levels.pairs as double) as pairs,
        cast(email_kind_pairs.all_pairs as double) as total
    from email_kind_pairs
    cross join
        lateral (
            values
            ('exact', email_kind_pairs.email_pairs),
            ('same_local_part', email_kind_pairs.local_part_pairs - email_kind_pairs.email_pairs),
            ('same_number', email_kind_pairs.number_pairs - email_kind_pairs.local_part_with_number_pairs),
            (
                'different',
                email_kind_pairs.all_pairs - email_kind_pairs.local_part_pairs
                - email_kind_pairs.number_pairs + email_kind_pairs.local_part_with_number_pairs
            )
        ) as email_levels (level, pairs)
    where email_kind_pairs.all_pairs > 0
),

location_dated as (
    -- Records with a location and a known date of birth.
    select
        date_of_birth,
        case when address_key is not null and postal_code is not null then address_key || '|' || postal_code end
            as home_key,
        postal_code,
        city_key,
        case when postal_code is not null and city_key is not null then city_key || '|' || postal_code end
            as city_postal_key
    from records
    where date_of_birth is not null and coalesce(address_key, postal_code, city_key) is not null
),

location_key_groups as (
    select
        'all' as key_kind,
        '' as key_value,
        date_of_birth,
        count(*) as records
    from location_dated
    group by date_of_birth
    union all
    select
        'home' as key_kind,
        home_key as key_value,
        date_of_birth,
        count(*) as records
    from location_dated
    where home_key is not null
    group by home_key, date_of_birth
    union all
    select
        'postal_code' as key_kind,
        postal_code as key_value,
        date_of_birth,
        count(*) as records
    from location_dated
    where postal_code is not null
    group by postal_code, date_of_birth
    union all
    select
        'city' as key_kind,
        city_key as key_value,
        date_of_birth,
        count(*) as records
    from location_dated
    where city_key is not null
    group by city_key, date_of_birth
    union all
    select
        'city_and_postal_code' as key_kind,
        city_postal_key as key_value,
        date_of_birth,
        count(*) as records
    from location_dated
    where city_postal_key is not null
    group by city_postal_key, date_of_birth
),

location_key_pairs as (
    -- As for email: pairs sharing the key whose dates of birth differ.
    select
        key_kind,
        key_value,
        (sum(records) * sum(records) - sum(records * records)) / 2 as pairs
    from location_key_groups
    group by key_kind, key_value
),

location_kind_pairs as (
    select
        sum(pairs) filter (where key_kind = 'all') as all_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'home'), 0) as home_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'postal_code'), 0) as postal_code_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'city'), 0) as city_pairs,
        coalesce(sum(pairs) filter (where key_kind = 'city_and_postal_code'), 0) as city_and_postal_code_pairs
    from location_key_pairs
),

location_u_counts as (
    -- Same street line in the same postal code; else same postal code; else same city. The street
    -- key needs a postal code here (the matcher also accepts the same city), and the few pairs with a
    -- slip in the street name count under postal_code: address_fuzzy keeps its sampled u.
    select
        'location' as comparison,
        location_levels.level,
        cast(location_levels.pairs as double) as pairs,
        cast(location_kind_pairs.all_pairs as double) as total
    from location_kind_pairs
    cross join
        lateral (
            values
            ('address_exact', location_kind_pairs.home_pairs),
            ('postal_code', location_kind_pairs.postal_code_pairs - location_kind_pairs.home_pairs),
            ('city', location_kind_pairs.city_pairs - location_kind_pairs.city_and_postal_code_pairs),
            (
                'different',
                location_kind_pairs.all_pairs - location_kind_pairs.postal_code_pairs
                - location_kind_pairs.city_pairs + location_kind_pairs.city_and_postal_code_pairs
            )
        ) as location_levels (level, pairs)
    where location_kind_pairs.all_pairs > 0
),

counted_u_counts as (
    select * from email_u_counts
    union all
    select * from location_u_counts
),

levels as (
    select
        comparison,
        level
    from {{ ref('identity_match_weights') }}
    where level <> 'null'
),

u_counts as (
    {%- for comparison in comparisons %}
        select
            '{{ comparison }}' as comparison,
            {{ comparison }}_level as level,
            count(*) as pairs
        from random_pairs
        where {{ comparison }}_level <> 'null'
        group by all
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

m_counts as (
    {%- for comparison in comparisons %}
        select
            '{{ comparison }}' as comparison,
            {{ comparison }}_level as level,
            count(*) as pairs
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
        -- email and location: counted over all certain non-matches when there are any (see above)
        coalesce(counted_u_counts.pairs, u_counts.pairs, 0) as u_pairs,
        -- the exact email level is its own population (see above)
        case when levels.comparison = 'email' and levels.level <> 'exact' then 'not_exact' else 'all' end
            as m_population,
        coalesce(
            counted_u_counts.total,
            sum(coalesce(u_counts.pairs, 0)) over (partition by levels.comparison)
        ) as u_total,
        count(*) over (partition by levels.comparison) as level_count
    from levels
    left join m_counts on levels.comparison = m_counts.comparison and levels.level = m_counts.level
    left join u_counts on levels.comparison = u_counts.comparison and levels.level = u_counts.level
    left join counted_u_counts
        on levels.comparison = counted_u_counts.comparison and levels.level = counted_u_counts.level
),

normalized as (
    select
        counted.*,
        case
            when counted.m_population = 'not_exact'
                then sum(counted.m_pairs) over (partition by counted.comparison, counted.m_population)
            else sum(counted.m_pairs) over (partition by counted.comparison)
        end as m_total
    from counted
)

select
    comparison,
    level,
    (m_pairs + 0.5) / (m_total + 0.5 * level_count) as m_probability,
    (u_pairs + 0.5) / (u_total + 0.5 * level_count) as u_probability,
    m_pairs,
    m_total,
    u_pairs,
    u_total
from normalized
