with

customer_id_history as (
    select * from {{ ref('int_identity__customer_id_history') }}
),

final as (
    select * from customer_id_history
)

select * from final
