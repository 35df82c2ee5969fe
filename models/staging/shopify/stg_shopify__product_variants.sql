{#
    One row per product variant (SKU and price). The product id comes from the raw parent row (dlt
    child tables carry only `_dlt_parent_id`), the one join staging allows itself.
#}
with

variants as (
    select * from {{ source('shopify', 'products__variants') }}
),

products as (
    select
        _dlt_id,
        id,
        _dlt_load_id
    from {{ source('shopify', 'products') }}
),

final as (
    select
        cast(variants.id as {{ dbt.type_string() }}) as variant_id,
        cast(products.id as {{ dbt.type_string() }}) as product_id,
        {{ customer360.clean_text('variants.sku') }} as sku,
        {{ customer360.to_money('variants.price') }} as price,
        {{ customer360.load_id_to_timestamp('products._dlt_load_id') }} as loaded_at
    from variants
    left join products on variants._dlt_parent_id = products._dlt_id
)

select * from final
