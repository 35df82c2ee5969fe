with

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

identity_map as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

departed_keys as (
    -- records the history knows and the map no longer holds: deleted or redacted at their source, or gone
    select distinct history.record_key
    from history
    anti join identity_map
        on
            history.source_system = identity_map.source_system
            and history.source_record_id = identity_map.source_record_id
),

departed as (
    -- each one's last id, and when it got it
    select
        history.record_key,
        history.source_system,
        history.source_record_id,
        history.customer_id as last_customer_id,
        history.assigned_at as last_assigned_at
    from history
    inner join departed_keys on history.record_key = departed_keys.record_key
    qualify row_number() over (
        partition by history.record_key order by history.assigned_at desc, history.history_seq desc
    ) = 1
),

id_carriers as (
    -- the other records that ever carried that id
    select distinct
        departed.record_key as departed_key,
        departed.last_customer_id,
        departed.last_assigned_at,
        history.record_key as peer_key
    from departed
    inner join history
        on
            departed.last_customer_id = history.customer_id
            and departed.record_key != history.record_key
),

peer_ids_then as (
    -- each carrier's id when the departed record got its last one (its latest row up to that build)
    select
        id_carriers.departed_key,
        id_carriers.last_customer_id,
        history.source_system as peer_source_system,
        history.source_record_id as peer_source_record_id,
        history.customer_id as peer_customer_id
    from id_carriers
    inner join history
        on
            id_carriers.peer_key = history.record_key
            and id_carriers.last_assigned_at >= history.assigned_at
    qualify row_number() over (
        partition by id_carriers.departed_key, id_carriers.peer_key
        order by history.assigned_at desc, history.history_seq desc
    ) = 1
),

linked_customers as (
    -- the customers the departed record was with: those that now hold a record which held its id when it got
    -- it (a false merge split again before does not count; a split since leads to every part), and the id
    -- itself while a customer still holds it (records that joined the person since)
    select
        peer_ids_then.departed_key,
        identity_map.customer_id
    from peer_ids_then
    inner join identity_map
        on
            peer_ids_then.peer_source_system = identity_map.source_system
            and peer_ids_then.peer_source_record_id = identity_map.source_record_id
    where peer_ids_then.peer_customer_id = peer_ids_then.last_customer_id
    union
    select distinct
        departed.record_key as departed_key,
        identity_map.customer_id
    from departed
    inner join identity_map on departed.last_customer_id = identity_map.customer_id
),

final as (
    select
        {{ surrogate_key(['departed.source_system', 'departed.source_record_id', 'linked_customers.customer_id']) }}
            as departed_record_customer_id,
        departed.source_system,
        departed.source_record_id,
        departed.last_customer_id,
        linked_customers.customer_id
    from departed
    inner join linked_customers on departed.record_key = linked_customers.departed_key
)

select * from final
