{#
    One row per Segment message (deduplicated by staging on messageId) with the fields sessions,
    engagement and cart triggers need, and the unified customer of its device (retroactively: all of a
    device's events carry the customer once the device is identified, see
    int_engagement__identity_resolution).

    Incremental (merge on message_id) over load watermarks: a run processes the messages of loads newer
    than the newest load already here (a late-arriving event comes in a new load, so it is among them;
    Segment loads run one at a time and commit in load-id order), the messages staged with a future date
    at the last build whose time has come (their date is after that build's newest load plus
    `staging_future_grace_days`), and every message of a device whose customer changed since it was
    written (a device identified later, two customers merged). Same data → same table, incremental or
    full refresh; a build with nothing new processes nothing.
#}

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='message_id',
    on_schema_change='append_new_columns',
) }}

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

{% if is_incremental() %}
    changed_keys as (
        select distinct already_built.identity_key
        from {{ this }} as already_built
        left join resolution on already_built.identity_key = resolution.identity_key
        where resolution.customer_id is distinct from already_built.customer_id
    ),
{% endif %}

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
            or staged.identity_key in (select changed_keys.identity_key from changed_keys)
    {% endif %}
)

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
