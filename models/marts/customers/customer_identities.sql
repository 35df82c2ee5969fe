with

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

final as (
    select
        source_system,
        source_record_id,
        customer_id,
        match_rule,
        match_score
    from customer_map
)

select * from final
