with

{{ customer360.published_rows_guard(
    source('published', 'cart_abandonment_triggers_rows'), ref('cart_abandonment_triggers'), 'trigger_id'
) }}

final as (
    select
        trigger_id,
        cart_id,
        customer_id,
        email,
        first_name,
        cart_started_at,
        last_cart_activity_at,
        abandoned_at,
        reached_checkout,
        items_added,
        cart_value,
        last_added_product_id,
        last_added_product_title,
        last_added_category,
        recommended_category,
        triggered_at,
        trigger_batch_id
    from published_rows
    where trigger_id not in (select blocked.trigger_id from blocked)
)

select * from final
