{%- set published_rows = source('published', 'email_audience_rows') -%}
{%- set has_rows = execute and load_relation(published_rows) is not none %}

with

{{ customer360.suppression_guard_ctes() }}

published_rows as (
    {% if has_rows %}
        select * from {{ published_rows }}
    {% else %}
        select * from {{ ref('email_audience') }}
        where 1 = 0
    {% endif %}
),

customer_id_history as (
    select * from {{ ref('int_identity__customer_id_history') }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

guard_subjects as (
    -- the guard is asked about the published id and about every id its records hold now: a merge since the
    -- publish retires the published id, and an unsubscribe is then keyed by the surviving one (fail closed:
    -- after a split, either part's opt-out holds the row)
    select
        customer_id as published_customer_id,
        customer_id as guard_customer_id
    from published_rows
    union
    select
        history.customer_id as published_customer_id,
        current_ids.customer_id as guard_customer_id
    from customer_id_history as history
    inner join customer_map as current_ids
        on
            history.source_system = current_ids.source_system
            and history.source_record_id = current_ids.source_record_id
),

checked as (
    select
        published_rows.customer_id,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from published_rows
    left join guard_subjects on published_rows.customer_id = guard_subjects.published_customer_id
    {{ customer360.suppression_guard_joins('guard_subjects.guard_customer_id', 'published_rows.email') }}
),

blocked as (
    select distinct customer_id
    from checked
    where guard_block_reason is not null
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
    from published_rows
    where customer_id not in (select blocked.customer_id from blocked)
)

select * from final
