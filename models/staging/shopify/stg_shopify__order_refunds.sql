with

refunds as (
    -- the rows of deleted orders leave with them (issue 11)
    select * from {{ customer360.source_if_loaded('shopify', 'orders__refunds') }}
    where _dlt_root_id not in {{ customer360.shopify_deleted_order_dlt_ids() }}
),

orders as (
    select
        _dlt_id,
        id,
        _dlt_load_id
    from {{ customer360.source_if_loaded('shopify', 'orders') }}
),

final as (
    select
        cast(refunds.id as {{ dbt.type_string() }}) as refund_id,
        cast(orders.id as {{ dbt.type_string() }}) as order_id,
        {{ customer360.to_utc_timestamp('refunds.created_at') }} as refunded_at,
        {{ customer360.clean_text('refunds.note') }} as note,
        {{ customer360.load_id_to_timestamp('orders._dlt_load_id') }} as loaded_at
    from refunds
    -- dlt child rows carry only their parents' _dlt_ids: the join to the raw parent adds keys, never rows
    left join orders on refunds._dlt_parent_id = orders._dlt_id
)

select * from final
