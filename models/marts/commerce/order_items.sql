with

order_items as (
    select * from {{ ref('int_commerce__order_items') }}
),

final as (
    select * from order_items
)

select * from final
