with

history as (
    select * from {{ ref('int_identity__customer_id_history') }}
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

already_recorded as (
    -- The newest merge this table already holds; none on the first build.
    {% if is_incremental() %}
        select max(recorded.merged_at) as last_merged_at from {{ this }} as recorded
    {% else %}
        select cast(null as timestamp) as last_merged_at
    {% endif %}
),

merge_rows as (
    select history.*
    from history
    cross join already_recorded
    where
        history.change_reason = 'merge'
        and (already_recorded.last_merged_at is null or history.assigned_at > already_recorded.last_merged_at)
),

merge_events as (
    select
        previous_customer_id as merged_customer_id,
        customer_id as surviving_customer_id,
        assigned_at as merged_at,
        count(*) as records_moved
    from merge_rows
    group by previous_customer_id, customer_id, assigned_at
),

held as (
    -- The records that held the retired id just before the merge (they are the ones that moved).
    select
        previous_customer_id as merged_customer_id,
        record_key
    from merge_rows
),

edge_ends as (
    select
        record_key_a as record_key,
        record_key_b as other_record_key,
        match_rule,
        match_score,
        is_strong
    from edges
    union all
    select
        record_key_b,
        record_key_a,
        match_rule,
        match_score,
        is_strong
    from edges
),

bridges as (
    -- Edges with one end in the retired customer and the other end outside it.
    select
        held.merged_customer_id,
        edge_ends.match_rule,
        edge_ends.match_score,
        edge_ends.is_strong,
        least(edge_ends.record_key, edge_ends.other_record_key) as record_key_a,
        greatest(edge_ends.record_key, edge_ends.other_record_key) as record_key_b
    from held
    inner join edge_ends on held.record_key = edge_ends.record_key
    left join held as other_side
        on
            held.merged_customer_id = other_side.merged_customer_id
            and edge_ends.other_record_key = other_side.record_key
    where other_side.record_key is null
),

best_bridge as (
    select *
    from bridges
    qualify row_number() over (
        partition by merged_customer_id
        order by is_strong desc, match_score desc, record_key_a asc, record_key_b asc
    ) = 1
),

final as (
    select
        merge_events.merged_customer_id,
        merge_events.surviving_customer_id,
        merge_events.merged_at,
        merge_events.records_moved,
        best_bridge.match_rule,
        best_bridge.match_score,
        coalesce(
            best_bridge.match_rule || ' edge between '
            || best_bridge.record_key_a || ' and ' || best_bridge.record_key_b,
            'clusters joined (bridging edge no longer present)'
        ) as merge_reason
    from merge_events
    left join best_bridge on merge_events.merged_customer_id = best_bridge.merged_customer_id
)

select * from final
