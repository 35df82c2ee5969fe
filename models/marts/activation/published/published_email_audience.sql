{%- set published_rows = source('published', 'email_audience_rows') -%}
{%- set has_rows = execute and load_relation(published_rows) is not none %}

with

published_rows as (
    {% if has_rows %}
        select * from {{ published_rows }}
    {% else %}
        select * from {{ ref('email_audience') }}
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
        customer_id,
        email,
        email_sha256,
        first_name,
        country_code,
        rfm_segment,
        loyalty_tier,
        lifetime_orders,
        last_order_at,
        preferred_category,
        recommended_category,
        last_viewed_product_id,
        last_viewed_product_title,
        last_viewed_category,
        email_consent_basis,
        email_consent_source_system,
        email_consent_updated_at
    from checked
    where guard_block_reason is null
)

select * from final
