with

customer_id_history as (
    select * from {{ ref('int_identity__customer_id_history') }}
),

final as (
    select
        record_key,
        source_system,
        source_record_id,
        customer_id,
        previous_customer_id,
        change_reason,
        anchor_record_key,
        anchor_created_at,
        assigned_at,
        history_seq,
        invocation_id
    from customer_id_history
)

select * from final
