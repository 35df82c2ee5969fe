with

source as (
    select * from {{ customer360.source_if_loaded('shopify', 'products') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as product_id,
        {{ customer360.clean_text('title') }} as title,
        {{ customer360.clean_text('product_type') }} as category,
        {{ customer360.clean_text('vendor') }} as vendor,
        {{ customer360.to_utc_timestamp('created_at') }} as source_created_at,
        {{ customer360.to_utc_timestamp('updated_at') }} as source_updated_at,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from source
)

select * from final
