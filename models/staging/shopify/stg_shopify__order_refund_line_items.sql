with

refund_line_items as (
    -- the rows of deleted orders leave with them (issue 11)
    select * from {{ customer360.source_if_loaded('shopify', 'orders__refunds__refund_line_items') }}
    where _dlt_root_id not in {{ customer360.shopify_deleted_order_dlt_ids() }}
),

refunds as (
    select
        _dlt_id,
        id
    from {{ customer360.source_if_loaded('shopify', 'orders__refunds') }}
),

orders as (
    select
        _dlt_id,
        id,
        _dlt_load_id
    from {{ customer360.source_if_loaded('shopify', 'orders') }}
),

renamed as (
    select
        cast(refund_line_items.id as {{ dbt.type_string() }}) as refund_line_item_id,
        cast(refunds.id as {{ dbt.type_string() }}) as refund_id,
        cast(orders.id as {{ dbt.type_string() }}) as order_id,
        cast(refund_line_items.line_item_id as {{ dbt.type_string() }}) as line_item_id,
        refund_line_items.quantity,
        {{ customer360.to_money('refund_line_items.subtotal') }} as c360_subtotal,
        orders._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('orders._dlt_load_id') }} as loaded_at
    from refund_line_items
    -- dlt child rows carry only their parents' _dlt_ids: the join to the raw parent adds keys, never rows
    left join refunds on refund_line_items._dlt_parent_id = refunds._dlt_id
    left join orders on refund_line_items._dlt_root_id = orders._dlt_id
),

final as (
    select
        refund_line_item_id,
        refund_id,
        order_id,
        line_item_id,
        quantity,
        case when c360_subtotal >= 0 then c360_subtotal end as subtotal,
        loaded_at,
        load_id,
        case
            when c360_subtotal < 0
                then {{ dbt.concat(["'subtotal='", 'cast(c360_subtotal as ' ~ dbt.type_string() ~ ')']) }}
        end as negative_amount
    from renamed
)

select * from final
