with

line_items as (
    -- the rows of deleted orders leave with them (issue 11)
    select * from {{ customer360.source_if_loaded('shopify', 'orders__line_items') }}
    where _dlt_root_id not in {{ customer360.shopify_deleted_order_dlt_ids() }}
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
        cast(line_items.id as {{ dbt.type_string() }}) as line_item_id,
        cast(orders.id as {{ dbt.type_string() }}) as order_id,
        cast(line_items.product_id as {{ dbt.type_string() }}) as product_id,
        cast(line_items.variant_id as {{ dbt.type_string() }}) as variant_id,
        {{ customer360.clean_text('line_items.title') }} as title,
        {{ customer360.clean_text('line_items.sku') }} as sku,
        {{ customer360.clean_text('line_items.vendor') }} as vendor,
        line_items.quantity,
        line_items.price as price_raw,
        {{ customer360.to_money('line_items.price') }} as c360_price,
        {{ customer360.to_money('line_items.total_discount') }} as c360_total_discount,
        line_items._dlt_list_idx as line_position,
        orders._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('orders._dlt_load_id') }} as loaded_at
    from line_items
    -- dlt child rows carry only their parents' _dlt_ids: the join to the raw parent adds keys, never rows
    left join orders on line_items._dlt_parent_id = orders._dlt_id
),

final as (
    select
        line_item_id,
        order_id,
        line_position,
        product_id,
        variant_id,
        title,
        sku,
        vendor,
        quantity,
        case when c360_price >= 0 then c360_price end as price,
        case when c360_total_discount >= 0 then c360_total_discount end as total_discount,
        case
            when c360_price >= 0 and c360_total_discount >= 0
                then c360_price * quantity - c360_total_discount
        end as line_total,
        loaded_at,
        load_id,
        price_raw,
        case
            when c360_price < 0
                then {{ dbt.concat(["'price='", 'cast(c360_price as ' ~ dbt.type_string() ~ ')']) }}
            when c360_total_discount < 0
                then {{ dbt.concat(["'total_discount='", 'cast(c360_total_discount as ' ~ dbt.type_string() ~ ')']) }}
        end as negative_amount
    from renamed
)

select * from final
