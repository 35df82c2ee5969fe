{%- set search_engines = ['google.', 'bing.', 'duckduckgo.', 'yahoo.', 'ecosia.', 'baidu.', 'yandex.'] -%}

with

{% if is_incremental() %}
    device_customers as (
        select distinct
            anonymous_id,
            customer_id
        from {{ ref('int_engagement__events') }}
        where anonymous_id is not null
    ),

    built_device_customers as (
        select distinct
            anonymous_id,
            customer_id
        from {{ this }}
    ),

    devices_to_rebuild as (
        select events.anonymous_id
        from {{ ref('int_engagement__events') }} as events
        where
            events.anonymous_id is not null
            and (
                events.loaded_at > (
                    select coalesce(max(already_built.last_loaded_at), {{ customer360.watermark_floor() }})
                    from {{ this }} as already_built
                )
                -- an event that entered int_engagement__events late because its date was in the future
                or events.event_at > (
                    select
                        {{ dbt.dateadd(
                            'day', var('staging_future_grace_days', 1), 'max(already_built.last_loaded_at)'
                        ) }}
                    from {{ this }} as already_built
                )
            )
        union
        -- devices whose customer changed: compared on distinct (device, customer) pairs, not event x session
        select device_customers.anonymous_id
        from device_customers
        inner join built_device_customers
            on device_customers.anonymous_id = built_device_customers.anonymous_id
        where device_customers.customer_id is distinct from built_device_customers.customer_id
    ),
{% endif %}

session_keys as (
    -- The session windows sort only what they need (device, time, message id), not the whole event rows: at
    -- 1M people (17.6M events) the model's full refresh took 58 s that way, 12 s this way.
    select
        anonymous_id,
        message_id,
        event_at
    from {{ ref('int_engagement__events') }}
    {% if is_incremental() %}
        -- the devices to rebuild (none has a null id)
        where anonymous_id in (select devices_to_rebuild.anonymous_id from devices_to_rebuild)
    {% else %}
        where anonymous_id is not null
    {% endif %}
),

event_rows as (
    select
        message_id,
        anonymous_id,
        user_id,
        customer_id,
        is_identified,
        event_type,
        event_name,
        event_at,
        loaded_at,
        page_url,
        page_path,
        page_referrer,
        device_type,
        utm_source,
        utm_medium,
        utm_campaign
    from {{ ref('int_engagement__events') }}
),

ordered as (
    select
        *,
        lag(event_at) over (partition by anonymous_id order by event_at, message_id) as previous_event_at
    from session_keys
),

flagged as (
    select
        *,
        {%- set gap_seconds = dbt.datediff('previous_event_at', 'event_at', 'second') %}
        case
            when previous_event_at is null then 1
            when {{ gap_seconds }} > {{ var('session_inactivity_minutes') }} * 60 then 1  -- noqa: LT05
            else 0
        end as is_session_start
    from ordered
),

numbered as (
    select
        anonymous_id,
        message_id,
        is_session_start,
        sum(is_session_start) over (
            partition by anonymous_id order by event_at, message_id rows between unbounded preceding and current row
        ) as session_number
    from flagged
),

positioned as (
    -- each event of the devices in scope with its session: message_id is the events' key (unique and not
    -- null, tested at error severity, so dbt build stops before this model on a breach)
    select
        events.*,
        numbered.session_number,
        numbered.is_session_start
    from event_rows as events
    inner join numbered
        on
            events.anonymous_id = numbered.anonymous_id
            and events.message_id = numbered.message_id
),

sessions as (
    select
        anonymous_id,
        session_number,
        max(customer_id) as customer_id,
        max(case when is_identified then 1 else 0 end) = 1 as is_identified,
        max(user_id) as user_id,
        min(event_at) as session_started_at,
        max(event_at) as session_ended_at,
        count(*) as event_count,
        sum(case when event_type = 'page' then 1 else 0 end) as page_view_count,
        sum(case when event_name = 'Product Viewed' then 1 else 0 end) as product_view_count,
        sum(case when event_name = 'Product Added' then 1 else 0 end) as product_added_count,
        max(case when event_name = 'Checkout Started' then 1 else 0 end) = 1 as has_checkout_started,
        max(case when event_name = 'Order Completed' then 1 else 0 end) = 1 as has_order_completed,
        max(loaded_at) as last_loaded_at
    from positioned
    group by anonymous_id, session_number
),

entries as (
    select
        anonymous_id,
        session_number,
        page_url as entry_page_url,
        page_path as entry_page_path,
        page_referrer as entry_referrer,
        device_type,
        utm_source,
        utm_medium,
        utm_campaign,
        lower({{ dbt.split_part(dbt.split_part('page_referrer', "'://'", 2), "'/'", 1) }}) as referrer_host,
        lower({{ dbt.split_part(dbt.split_part('page_url', "'://'", 2), "'/'", 1) }}) as page_host
    from positioned
    where is_session_start = 1
),

entries_classified as (
    select
        *,
        coalesce(referrer_host <> '' and referrer_host <> coalesce(page_host, ''), false) as is_external_referrer,
        (
            {%- for engine in search_engines %}
                referrer_host like '%{{ engine }}%'{% if not loop.last %} or{% endif %}
            {%- endfor %}
        ) as is_search_engine
    from entries
),

final as (
    select
        {{ surrogate_key(['sessions.anonymous_id', 'sessions.session_started_at']) }} as session_id,
        sessions.anonymous_id,
        sessions.customer_id,
        sessions.is_identified,
        sessions.user_id,
        cast(sessions.session_number as integer) as session_number,
        sessions.session_started_at,
        sessions.session_ended_at,
        cast({{ dbt.datediff('sessions.session_started_at', 'sessions.session_ended_at', 'second') }} as integer)  -- noqa: LT05
            as duration_seconds,
        cast(sessions.event_count as integer) as event_count,
        cast(sessions.page_view_count as integer) as page_view_count,
        cast(sessions.product_view_count as integer) as product_view_count,
        cast(sessions.product_added_count as integer) as product_added_count,
        sessions.has_checkout_started,
        sessions.has_order_completed,
        entries.entry_page_url,
        entries.entry_page_path,
        entries.entry_referrer,
        case
            when entries.utm_source is not null then lower(entries.utm_source)
            when entries.is_external_referrer then entries.referrer_host
            else '(direct)'
        end as traffic_source,
        case
            when entries.utm_source is not null then coalesce(lower(entries.utm_medium), '(not set)')
            when entries.is_external_referrer and entries.is_search_engine then 'organic'
            when entries.is_external_referrer then 'referral'
            else '(none)'
        end as traffic_medium,
        entries.utm_campaign as traffic_campaign,
        coalesce(entries.device_type, 'unknown') as device_type,
        sessions.last_loaded_at
    from sessions
    inner join entries_classified as entries
        on
            sessions.anonymous_id = entries.anonymous_id
            and sessions.session_number = entries.session_number
)

select * from final
