with

transactions as (
    -- the rows of deleted orders leave with them (issue 11)
    select * from {{ customer360.source_if_loaded('shopify', 'orders__refunds__transactions') }}
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
        cast(transactions.id as {{ dbt.type_string() }}) as transaction_id,
        cast(refunds.id as {{ dbt.type_string() }}) as refund_id,
        cast(orders.id as {{ dbt.type_string() }}) as order_id,
        {{ customer360.to_money('transactions.amount') }} as c360_amount,
        lower({{ customer360.clean_text('transactions.kind') }}) as kind,
        lower({{ customer360.clean_text('transactions.status') }}) as status,
        orders._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('orders._dlt_load_id') }} as loaded_at
    from transactions
    -- dlt child rows carry only their parents' _dlt_ids: the join to the raw parent adds keys, never rows
    left join refunds on transactions._dlt_parent_id = refunds._dlt_id
    left join orders on transactions._dlt_root_id = orders._dlt_id
),

final as (
    select
        transaction_id,
        refund_id,
        order_id,
        case when c360_amount >= 0 then c360_amount end as amount,
        kind,
        status,
        loaded_at,
        load_id,
        case
            when c360_amount < 0
                then {{ dbt.concat(["'amount='", 'cast(c360_amount as ' ~ dbt.type_string() ~ ')']) }}
        end as negative_amount
    from renamed
)

select * from final
