{%- set comparisons = identity_comparison_names() %}

with

clusters as (
    select
        record_key,
        cluster_id
    from {{ ref('int_identity__clusters') }}
),

deterministic as (
    select
        record_key_a,
        record_key_b,
        match_rule,
        match_score,
        true as is_strong,
        cast(null as varchar) as blocking_rule,
        evidence as explanation
    from {{ ref('int_identity__deterministic_edges') }}
    where is_strong
),

scored as (
    select
        record_key_a,
        record_key_b,
        'probabilistic' as match_rule,
        match_probability as match_score,
        false as is_strong,
        blocking_rule,
        concat_ws(
            ', ',
            {%- for comparison in comparisons %}
                case
                    when {{ comparison }}_level <> 'null'
                        then
                            '{{ comparison }} ' || {{ comparison }}_level
                            || ' ' || printf('%+.1f', {{ comparison }}_weight)
                end,
            {%- endfor %}
            'prior ' || printf('%+.1f', prior_weight)
        ) as explanation
    from {{ ref('int_identity__scored_pairs') }}
    where decision = 'accept'
),

edges as (
    select * from deterministic
    union all
    select * from scored
),

final as (
    select edges.*
    from edges
    inner join clusters as ca on edges.record_key_a = ca.record_key
    inner join clusters as cb on edges.record_key_b = cb.record_key
    -- An accepted scored edge that would have joined two dates of birth was not used (see review pairs).
    where ca.cluster_id = cb.cluster_id
)

select * from final
