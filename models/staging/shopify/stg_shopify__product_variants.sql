with

variants as (
    select * from {{ customer360.source_if_loaded('shopify', 'products__variants') }}
),

products as (
    select
        _dlt_id,
        id,
        _dlt_load_id
    from {{ customer360.source_if_loaded('shopify', 'products') }}
),

renamed as (
    select
        cast(variants.id as {{ dbt.type_string() }}) as variant_id,
        cast(products.id as {{ dbt.type_string() }}) as product_id,
        {{ customer360.clean_text('variants.sku') }} as sku,
        {{ customer360.to_money('variants.price') }} as c360_price,
        products._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('products._dlt_load_id') }} as loaded_at
    from variants
    -- dlt child rows carry only their parents' _dlt_ids: the join to the raw parent adds keys, never rows
    left join products on variants._dlt_parent_id = products._dlt_id
),

final as (
    select
        variant_id,
        product_id,
        sku,
        case when c360_price >= 0 then c360_price end as price,
        loaded_at,
        load_id,
        case
            when c360_price < 0
                then {{ dbt.concat(["'price='", 'cast(c360_price as ' ~ dbt.type_string() ~ ')']) }}
        end as negative_amount
    from renamed
)

select * from final
