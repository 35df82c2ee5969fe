with

staged as (
    select
        message_id,
        event_type,
        event_name,
        anonymous_id,
        user_id,
        case
            when anonymous_id is not null then 'anonymous:' || anonymous_id
            when user_id is not null then 'user:' || user_id
        end as identity_key,
        event_at,
        received_at,
        loaded_at,
        page_url,
        page_path,
        page_title,
        page_referrer,
        -- UTM: Segment's context.campaign, else the utm_ parameters of the page URL
        {%- for part, campaign_column in [('source', 'campaign_source'), ('medium', 'campaign_medium'),
                                          ('campaign', 'campaign_name')] %}
            coalesce(
                nullif(trim({{ campaign_column }}), ''),
                case
                    when page_url like '%utm_{{ part }}=%' then
                        nullif(
                            {{ customer360.regex_replace('page_url', '^.*[?&]utm_' ~ part ~ '=([^&#]*).*$', '\\1') }},
                            ''
                        )
                end
            ) as utm_{{ part }},
        {%- endfor %}
        device_type,
        product_id,
        category as product_category,
        cart_id,
        order_id,
        price,
        email
    from {{ ref('stg_segment__events') }}
    where (anonymous_id is not null or user_id is not null) and event_at is not null
),

resolution as (
    select
        identity_key,
        customer_id,
        is_identified
    from {{ ref('int_engagement__identity_resolution') }}
),

to_process as (
    select staged.*
    from staged
    {% if is_incremental() %}
        where
            staged.loaded_at > (
                select coalesce(max(already_built.loaded_at), {{ customer360.watermark_floor() }})
                from {{ this }} as already_built
            )
            -- a message staged with a date in the future at the last build counts once its time has come
            or staged.event_at > (
                select {{ dbt.dateadd('day', var('staging_future_grace_days', 1), 'max(already_built.loaded_at)') }}
                from {{ this }} as already_built
            )
            -- every message of a device whose customer changed since it was written
            or staged.identity_key in (
                select already_built.identity_key
                from {{ this }} as already_built
                left join resolution on already_built.identity_key = resolution.identity_key
                where resolution.customer_id is distinct from already_built.customer_id
            )
    {% endif %}
),

final as (
    select
        to_process.message_id,
        to_process.event_type,
        to_process.event_name,
        to_process.anonymous_id,
        to_process.user_id,
        to_process.identity_key,
        resolution.customer_id,
        to_process.event_at,
        to_process.received_at,
        to_process.loaded_at,
        to_process.page_url,
        to_process.page_path,
        to_process.page_title,
        to_process.page_referrer,
        to_process.utm_source,
        to_process.utm_medium,
        to_process.utm_campaign,
        to_process.device_type,
        to_process.product_id,
        to_process.product_category,
        to_process.cart_id,
        to_process.order_id,
        to_process.price,
        to_process.email,
        coalesce(resolution.is_identified, false) as is_identified
    from to_process
    left join resolution on to_process.identity_key = resolution.identity_key
)

select * from final
