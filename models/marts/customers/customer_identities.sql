{#
    The identity map: one row per source record with its customer id, and how it was matched.

    customer_id: the record's latest id in customer_id_history (stable across rebuilds).
    match_rule / match_score: the strongest edge that ties the record to the rest of its customer
    (deterministic rules first, then the highest score); 'singleton' with a null score for a customer of
    one record. int_identity__edges holds every edge, for the full story.
#}

with

clusters as (
    select
        record_key,
        cluster_id,
        cluster_size
    from {{ ref('int_identity__clusters') }}
),

current_ids as (
    select
        record_key,
        source_system,
        source_record_id,
        customer_id
    from {{ ref('customer_id_history') }}
    qualify row_number() over (partition by record_key order by assigned_at desc, history_seq desc) = 1
),

edge_ends as (
    select
        record_key_a as record_key,
        match_rule,
        match_score,
        is_strong
    from {{ ref('int_identity__edges') }}
    union all
    select
        record_key_b,
        match_rule,
        match_score,
        is_strong
    from {{ ref('int_identity__edges') }}
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
)

select
    current_ids.source_system,
    current_ids.source_record_id,
    current_ids.customer_id,
    coalesce(best_edge.match_rule, 'singleton') as match_rule,
    best_edge.match_score
from clusters
inner join current_ids on clusters.record_key = current_ids.record_key
left join best_edge on clusters.record_key = best_edge.record_key
