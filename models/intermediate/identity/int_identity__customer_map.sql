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

best_edge as (
    select
        record_key,
        match_rule,
        match_score
    from edge_ends
    qualify row_number() over (
        partition by record_key order by is_strong desc, match_score desc, match_rule asc
    ) = 1
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
