with

sessions as (
    select * from {{ ref('int_engagement__web_sessions') }}
),

final as (
    select
        session_id,
        anonymous_id,
        customer_id,
        is_identified,
        user_id,
        session_number,
        session_started_at,
        session_ended_at,
        duration_seconds,
        event_count,
        page_view_count,
        product_view_count,
        product_added_count,
        has_checkout_started,
        has_order_completed,
        entry_page_url,
        entry_page_path,
        entry_referrer,
        traffic_source,
        traffic_medium,
        traffic_campaign,
        device_type,
        last_loaded_at
    from sessions
)

select * from final
