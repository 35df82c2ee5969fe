with

{{ customer360.published_rows_guard(
    source('published', 'email_audience_rows'), ref('email_audience'), 'customer_id'
) }}

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
    from published_rows
    where customer_id not in (select blocked.customer_id from blocked)
)

select * from final
