{%- set learning_is_due = customer360.identity_learning_is_due() %}
{%- set comparisons = identity_comparison_names() %}

{%- set exact_counted = {
    'first_name': 'first_name_key',
    'last_name': 'last_name_key',
    'date_of_birth': 'cast(date_of_birth as varchar)',
} %}

with

source_records as (
    select * from {{ ref('int_identity__source_records') }}
),

strong_clusters as (
    select
        record_id,
        strong_cluster_id
    from {{ ref('int_identity__strong_clusters') }}
),

{% if not learning_is_due -%}
    learnt_before as (
        select * from {{ this }}
    ),
{%- endif %}

levels as (
    select
        comparison,
        level
    from {{ ref('identity_match_weights') }}
    where level <> 'null'
),

records as (
    -- the columns the comparisons read (a narrow CTE: it is read by many steps)
    select
        source_records.record_id,
        source_records.record_key,
        strong_clusters.strong_cluster_id,
        source_records.first_name_key,
        source_records.last_name_key,
        source_records.given_name_canonical,
        source_records.date_of_birth,
        source_records.email_match_key,
        source_records.email_local_part,
        source_records.email_local_number,
        source_records.is_role_email,
        source_records.phone_e164,
        source_records.address_key,
        source_records.address_number,
        source_records.address_unit,
        source_records.postal_code,
        source_records.city_key,
        source_records.region_code
    from source_records
    inner join strong_clusters on source_records.record_id = strong_clusters.record_id
),

sampled as (
    select *
    from records
    order by hash(record_key)
    limit {{ var('identity_u_sample_records') }}
),

random_pair_features as (
    -- Pairs a strong edge already links are left out: they are known matches, and at a few records
    -- per person they would make rare agreements (same email, same number) look common among
    -- non-matches.
    select
        {{ identity_comparison_features('a', 'b') }}
    from sampled as a
    inner join sampled as b on a.record_id < b.record_id and a.strong_cluster_id <> b.strong_cluster_id
),

random_pairs as (
    select
        {{ identity_comparison_levels() }}
    from random_pair_features
),

email_dated as (
    -- Records with a comparable (personal) email and a known date of birth.
    select
        year(date_of_birth) as birth_year,
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
        birth_year,
        count(*) as records
    from email_dated
    group by birth_year
    union all
    select
        'email' as key_kind,
        email_match_key as key_value,
        birth_year,
        count(*) as records
    from email_dated
    group by email_match_key, birth_year
    union all
    select
        'local_part' as key_kind,
        email_local_part as key_value,
        birth_year,
        count(*) as records
    from email_dated
    group by email_local_part, birth_year
    union all
    select
        'number' as key_kind,
        email_number as key_value,
        birth_year,
        count(*) as records
    from email_dated
    where email_number is not null
    group by email_number, birth_year
    union all
    select
        'local_part_with_number' as key_kind,
        email_local_part as key_value,
        birth_year,
        count(*) as records
    from email_dated
    where email_number is not null
    group by email_local_part, birth_year
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
        year(date_of_birth) as birth_year,
        case when address_key is not null and postal_code is not null then address_key || '|' || postal_code end
            as street_key,
        case
            when address_key is not null and postal_code is not null and address_unit is not null
                then address_key || '|' || postal_code
        end as street_with_unit_key,
        case
            when address_key is not null and postal_code is not null and address_unit is not null
                then address_key || '|' || address_unit || '|' || postal_code
        end as unit_key,
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
        birth_year,
        count(*) as records
    from location_dated
    group by birth_year
    union all
    -- one home as the comparison sees it (identity_same_home): the same street, units not in conflict;
    -- its pairs are the street's, less those between two different units (counted in location_kind_pairs)
    select
        'street' as key_kind,
        street_key as key_value,
        birth_year,
        count(*) as records
    from location_dated
    where street_key is not null
    group by street_key, birth_year
    union all
    select
        'street_with_unit' as key_kind,
        street_with_unit_key as key_value,
        birth_year,
        count(*) as records
    from location_dated
    where street_with_unit_key is not null
    group by street_with_unit_key, birth_year
    union all
    select
        'unit' as key_kind,
        unit_key as key_value,
        birth_year,
        count(*) as records
    from location_dated
    where unit_key is not null
    group by unit_key, birth_year
    union all
    select
        'postal_code' as key_kind,
        postal_code as key_value,
        birth_year,
        count(*) as records
    from location_dated
    where postal_code is not null
    group by postal_code, birth_year
    union all
    select
        'city' as key_kind,
        city_key as key_value,
        birth_year,
        count(*) as records
    from location_dated
    where city_key is not null
    group by city_key, birth_year
    union all
    select
        'city_and_postal_code' as key_kind,
        city_postal_key as key_value,
        birth_year,
        count(*) as records
    from location_dated
    where city_postal_key is not null
    group by city_postal_key, birth_year
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
        -- pairs at one street, less those of two different units: of all the street's pairs with a unit on
        -- both sides, only those of the same unit stay
        coalesce(sum(pairs) filter (where key_kind = 'street'), 0)
        - coalesce(sum(pairs) filter (where key_kind = 'street_with_unit'), 0)
        + coalesce(sum(pairs) filter (where key_kind = 'unit'), 0) as home_pairs,
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

home_dated as (
    -- Records at a known home (street line, unit and postal code) with a known date of birth. A rate among
    -- people at one home, so the pairs of one exact home (the same unit, or none on both sides) stand for
    -- all: joining a record without a unit to every flat of its building would grow with the building.
    select
        record_id,
        date_of_birth,
        address_key || '|' || coalesce(address_unit, '') || '|' || postal_code as home_key,
        first_name_key,
        last_name_key,
        phone_e164
    from records
    where date_of_birth is not null and address_key is not null and postal_code is not null
),

home_pairs as (
    -- Pairs of certainly different people at one home: dates of birth in different years and more
    -- than one slip apart. Homes are small, so the pairs are few (linear in the records).
    select
        a.first_name_key is not null and b.first_name_key is not null as first_named,
        coalesce(a.first_name_key = b.first_name_key, false) as same_first_name,
        a.last_name_key is not null and b.last_name_key is not null as named,
        coalesce(a.last_name_key = b.last_name_key, false) as same_surname,
        a.phone_e164 is not null and b.phone_e164 is not null as phoned,
        coalesce(a.phone_e164 = b.phone_e164, false) as same_phone
    from home_dated as a
    inner join home_dated as b on a.home_key = b.home_key and a.record_id < b.record_id
    where
        year(a.date_of_birth) <> year(b.date_of_birth)
        and not {{ identity_dates_within_a_slip('a.date_of_birth', 'b.date_of_birth') }}
),

home_kind_pairs as (
    select
        count(*) filter (where first_named) as first_named_pairs,
        count(*) filter (where same_first_name) as first_name_pairs,
        count(*) filter (where named) as named_pairs,
        count(*) filter (where same_surname) as surname_pairs,
        count(*) filter (where phoned) as phoned_pairs,
        count(*) filter (where same_phone) as phone_pairs
    from home_pairs
),

home_u_counts as (
    -- exact_at_home: the chance that two different people at one home share a first name, a surname,
    -- a phone. Not a share of all pairs but a u conditional on the shared home (which location weighs).
    select
        'first_name' as comparison,
        'exact_at_home' as level,
        cast(first_name_pairs as double) as pairs,
        cast(first_named_pairs as double) as total
    from home_kind_pairs
    where first_named_pairs >= {{ var('identity_min_pairs_for_estimate') }}
    union all
    select
        'last_name' as comparison,
        'exact_at_home' as level,
        cast(surname_pairs as double) as pairs,
        cast(named_pairs as double) as total
    from home_kind_pairs
    where named_pairs >= {{ var('identity_min_pairs_for_estimate') }}
    union all
    select
        'phone' as comparison,
        'exact_at_home' as level,
        cast(phone_pairs as double) as pairs,
        cast(phoned_pairs as double) as total
    from home_kind_pairs
    where phoned_pairs >= {{ var('identity_min_pairs_for_estimate') }}
),

value_counts as (
    -- Exact agreement on a name or a date of birth, counted from how often each value occurs: pairs
    -- sharing the value, minus those inside one strong cluster (known matches, as in the sample),
    -- over all pairs of records with a value in different strong clusters.
    {%- for comparison, column in exact_counted.items() %}
        select
            '{{ comparison }}' as comparison,
            strong_cluster_id,
            {{ column }} as value,
            count(*) as records
        from records
        where {{ column }} is not null
        group by strong_cluster_id, {{ column }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

value_pairs as (
    -- per value: pairs sharing it, of which inside one strong cluster
    select
        comparison,
        sum(records) * (sum(records) - 1) / 2 as same_value_pairs,
        sum(records * (records - 1) / 2) as same_cluster_pairs
    from value_counts
    group by comparison, value
),

cluster_records as (
    select
        comparison,
        sum(records) as records
    from value_counts
    group by comparison, strong_cluster_id
),

value_populations as (
    -- all pairs of records with a value, in different strong clusters
    select
        comparison,
        sum(records) * (sum(records) - 1) / 2 - sum(records * (records - 1) / 2) as all_pairs
    from cluster_records
    group by comparison
),

exact_u_counts as (
    select
        value_populations.comparison,
        'exact' as level,
        cast(sum(value_pairs.same_value_pairs - value_pairs.same_cluster_pairs) as double) as pairs,
        cast(any_value(value_populations.all_pairs) as double) as total
    from value_populations
    inner join value_pairs on value_populations.comparison = value_pairs.comparison
    where value_populations.all_pairs > 0
    group by value_populations.comparison
),

counted_u_counts as (
    select * from exact_u_counts
    union all
    select * from email_u_counts
    union all
    select * from location_u_counts
    union all
    select * from home_u_counts
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

counted as (
    select
        levels.comparison,
        levels.level,
        counted_u_counts.pairs is not null as is_counted,
        coalesce(counted_u_counts.pairs, u_counts.pairs, 0) as u_pairs,
        coalesce(
            counted_u_counts.total,
            sum(coalesce(u_counts.pairs, 0)) over (partition by levels.comparison)
        ) as u_total,
        count(*) over (partition by levels.comparison) as level_count,
        bool_or(counted_u_counts.pairs is not null and levels.level <> 'exact_at_home')
            over (partition by levels.comparison) as comparison_counted
    from levels
    left join u_counts on levels.comparison = u_counts.comparison and levels.level = u_counts.level
    left join counted_u_counts
        on levels.comparison = counted_u_counts.comparison and levels.level = counted_u_counts.level
),

smoothed as (
    select
        *,
        case
            when is_counted then u_pairs / nullif(u_total, 0)
            else (u_pairs + 0.5) / (u_total + 0.5 * level_count)
        end as level_probability
    from counted
),

learnt as (
    select
        comparison || '.' || level as parameter_key,
        comparison,
        level,
        case
            -- a counted comparison's 'different': what the other levels leave (exact_at_home is a u
            -- conditional on a shared home, not a share of all pairs)
            when comparison_counted and level = 'different'
                then greatest(
                    1 - sum(case when level not in ('different', 'exact_at_home') then level_probability else 0 end)
                        over (partition by comparison),
                    0.5 / u_total
                )
            -- a counted level never seen among different people: half a pair, as for sampled levels
            else greatest(level_probability, 0.5 / greatest(u_total, 1))
        end as u_probability,
        u_pairs,
        u_total,
        case when is_counted then 'counted' else 'sampled' end as u_method,
        -- this build's start: int_identity__match_parameters learns only from learners of its own build
        cast('{{ run_started_at }}' as {{ dbt.type_timestamp() }}) as learnt_at
    from smoothed
    -- exact_at_home is conditional on a shared home: without enough counted pairs the seed's value stands.
    where level <> 'exact_at_home' or is_counted
),

final as (
    {{ customer360.identity_learnt_or_kept(learning_is_due) }}
)

select * from final
