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

hubspot_deletions as (
    select
        'hubspot' as source_system,
        cast(id as {{ dbt.type_string() }}) as source_record_id,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as deletion_loaded_at
    from {{ customer360.source_if_loaded('hubspot', 'deleted_contacts') }}
),

shopify_deletions as (
    select
        'shopify' as source_system,
        {{ dbt.concat(['record_type', "':'", 'cast(record_id as ' ~ dbt.type_string() ~ ')']) }} as source_record_id,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as deletion_loaded_at
    from {{ customer360.source_if_loaded('shopify', 'deleted_records') }}
),

deletion_loads as (
    -- when a source's deletion of a record landed (its last, if several): the next build took the record out
    select
        source_system,
        source_record_id,
        max(deletion_loaded_at) as deletion_loaded_at
    from (
        select * from hubspot_deletions
        union all
        select * from shopify_deletions
    ) as deletions
    group by source_system, source_record_id
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

last_ids as (
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

departed as (
    -- the time whose ids tell whom the record was with as it left: the load of its deletion (every build before
    -- it still had the record), else, for a record gone with no later deletion on record, when it got its last id
    select
        last_ids.record_key,
        last_ids.source_system,
        last_ids.source_record_id,
        last_ids.last_customer_id,
        case
            when deletion_loads.deletion_loaded_at > last_ids.last_assigned_at then deletion_loads.deletion_loaded_at
            else last_ids.last_assigned_at
        end as departed_as_of,
        -- a deletion loaded before the last id change (a clock behind, a record deleted, restored and given
        -- another id) says nothing about the company it left
        coalesce(deletion_loads.deletion_loaded_at > last_ids.last_assigned_at, false) as has_deletion
    from last_ids
    left join deletion_loads
        on
            last_ids.source_system = deletion_loads.source_system
            and last_ids.source_record_id = deletion_loads.source_record_id
),

id_carriers as (
    -- the other records that ever carried that id
    select distinct
        departed.record_key as departed_key,
        departed.last_customer_id,
        departed.departed_as_of,
        history.record_key as peer_key
    from departed
    inner join history
        on
            departed.last_customer_id = history.customer_id
            and departed.record_key != history.record_key
),

peer_ids_then as (
    -- each carrier's id at that time (its latest row up to it)
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
            and id_carriers.departed_as_of >= history.assigned_at
    qualify row_number() over (
        partition by id_carriers.departed_key, id_carriers.peer_key
        order by history.assigned_at desc, history.history_seq desc
    ) = 1
),

linked_customers as (
    -- the customers that now hold a record which held the id at that time: merges and splits since are
    -- followed (every part), and a false merge before or after it ties no one. With no deletion on record the
    -- time is only a lower bound, so the id itself also counts while a customer holds it (fails closed).
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
    where not departed.has_deletion
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
