{%- set published_rows = source('published', 'cart_abandonment_triggers_rows') -%}
{%- set has_rows = execute and load_relation(published_rows) is not none %}

with

published_rows as (
    {% if has_rows %}
        select * from {{ published_rows }}
    {% else %}
        select * from {{ ref('cart_abandonment_triggers') }}
        where 1 = 0
    {% endif %}
),

checked as (
    select
        published_rows.*,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from published_rows
    {{ customer360.suppression_guard_joins('published_rows.customer_id', 'published_rows.email') }}
),

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
    from checked
    where guard_block_reason is null
)

select * from final
