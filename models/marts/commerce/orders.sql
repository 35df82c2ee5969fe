with

orders as (
    select * from {{ ref('int_commerce__orders') }}
),

final as (
    select * from orders
)

select * from final
