with

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

final as (
    select * from customer_map
)

select * from final
