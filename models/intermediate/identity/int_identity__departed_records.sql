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

last_ids as (
    -- each record's latest id, kept by the history after the record has left the map
    select
        source_system,
        source_record_id,
        customer_id
    from history
    qualify row_number() over (partition by record_key order by assigned_at desc, history_seq desc) = 1
),

departed as (
    -- records the map no longer holds: deleted or redacted at their source, or gone from it
    select
        last_ids.source_system,
        last_ids.source_record_id,
        last_ids.customer_id as last_customer_id
    from last_ids
    left join identity_map
        on
            last_ids.source_system = identity_map.source_system
            and last_ids.source_record_id = identity_map.source_record_id
    where identity_map.customer_id is null
),

id_holders as (
    -- for every id a record ever held, the customers its records belong to now (an id merged into another
    -- leads to the survivor; one split apart leads to every part)
    select distinct
        history.customer_id as held_customer_id,
        identity_map.customer_id
    from history
    inner join identity_map
        on
            history.source_system = identity_map.source_system
            and history.source_record_id = identity_map.source_record_id
),

final as (
    select
        {{ surrogate_key(['departed.source_system', 'departed.source_record_id', 'id_holders.customer_id']) }}
            as departed_record_customer_id,
        departed.source_system,
        departed.source_record_id,
        departed.last_customer_id,
        id_holders.customer_id
    from departed
    inner join id_holders on departed.last_customer_id = id_holders.held_customer_id
)

select * from final
