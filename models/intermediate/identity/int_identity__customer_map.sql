with

clusters as (
    select
        record_key,
        cluster_id,
        cluster_size
    from {{ ref('int_identity__clusters') }}
),

history as (
    select
        record_key,
        source_system,
        source_record_id,
        customer_id,
        assigned_at,
        history_seq
    from {{ ref('int_identity__customer_id_history') }}
),

edges as (
    select
        record_key_a,
        record_key_b,
        match_rule,
        match_score,
        is_strong
    from {{ ref('int_identity__edges') }}
),

current_ids as (
    -- each record's latest id (stable across rebuilds)
    select
        record_key,
        source_system,
        source_record_id,
        customer_id
    from history
    qualify row_number() over (partition by record_key order by assigned_at desc, history_seq desc) = 1
),

edge_ends as (
    select
        record_key_a as record_key,
        match_rule,
        match_score,
        is_strong
    from edges
    union all
    select
        record_key_b,
        match_rule,
        match_score,
        is_strong
    from edges
),

edge_ranks as (
    -- each record's best edge: strong first, then the highest score, then the first rule by name; one aggregate
    -- over that order as a struct (a window over the 9M edge ends took 7.1 of the model's 12 CPU s at 1M people)
    select
        record_key,
        arg_min(
            { 'match_rule': match_rule, 'match_score': match_score },
            {
                'strength': case when is_strong then 0 when not is_strong then 1 else 2 end,
                'score_order': coalesce(-match_score, cast('infinity' as double)),
                'rule_missing': match_rule is null,
                'match_rule': match_rule
            }
        ) as best
    from edge_ends
    group by record_key
),

best_edge as (
    select
        record_key,
        struct_extract(best, 'match_rule') as match_rule,
        struct_extract(best, 'match_score') as match_score
    from edge_ranks
),

final as (
    select
        current_ids.source_system,
        current_ids.source_record_id,
        current_ids.customer_id,
        coalesce(best_edge.match_rule, 'singleton') as match_rule,
        best_edge.match_score
    from clusters
    inner join current_ids on clusters.record_key = current_ids.record_key
    left join best_edge on clusters.record_key = best_edge.record_key
)

select * from final
