{#
    Sessionization loses and duplicates nothing: every device event (a Segment message with an
    anonymousId) is counted in exactly one web session, per device, and sessions of one device never
    overlap in time.
#}

with

events as (
    select
        anonymous_id,
        count(*) as events
    from {{ ref('int_engagement__events') }}
    where anonymous_id is not null
    group by anonymous_id
),

sessions as (
    select
        anonymous_id,
        sum(event_count) as events
    from {{ ref('web_sessions') }}
    group by anonymous_id
),

count_mismatches as (
    select
        coalesce(events.anonymous_id, sessions.anonymous_id) as anonymous_id,
        'event count differs' as problem
    from events
    full outer join sessions on events.anonymous_id = sessions.anonymous_id
    where events.events is distinct from sessions.events
),

overlapping_sessions as (
    select
        earlier.anonymous_id,
        'overlapping sessions' as problem
    from {{ ref('web_sessions') }} as earlier
    inner join {{ ref('web_sessions') }} as later
        on
            earlier.anonymous_id = later.anonymous_id
            and earlier.session_id <> later.session_id
            and earlier.session_started_at <= later.session_started_at
            and earlier.session_ended_at >= later.session_started_at
)

select * from count_mismatches
union all
select * from overlapping_sessions
