with

events as (
    select
        anonymous_id,
        user_id,
        email
    from {{ ref('stg_segment__events') }}
    where anonymous_id is not null or user_id is not null
),

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

cluster_has_known_record as (
    -- Customers that contain at least one record that is not an anonymous device.
    select distinct customer_id
    from identities
    where not (source_system = 'segment' and source_record_id like 'anonymous:%')
),

devices as (
    select
        'anonymous:' || anonymous_id as identity_key,
        max(case when user_id is not null or email is not null then 1 else 0 end) = 1 as carried_identity
    from events
    where anonymous_id is not null
    group by anonymous_id
),

users as (
    -- userId-only messages: the Segment `user:` record when identity made one, else the Shopify account
    -- the userId names (userId is the Shopify customer id).
    select distinct
        user_id,
        'user:' || user_id as identity_key
    from events
    where anonymous_id is null
),

device_resolution as (
    select
        devices.identity_key,
        (devices.carried_identity or known.customer_id is not null) as is_identified,
        case when devices.carried_identity or known.customer_id is not null then identities.customer_id end
            as customer_id
    from devices
    left join identities
        on
            identities.source_system = 'segment'
            and devices.identity_key = identities.source_record_id
    left join cluster_has_known_record as known on identities.customer_id = known.customer_id
),

user_resolution as (
    select
        users.identity_key,
        true as is_identified,
        coalesce(segment_user.customer_id, shopify_account.customer_id) as customer_id
    from users
    left join identities as segment_user
        on
            segment_user.source_system = 'segment'
            and users.identity_key = segment_user.source_record_id
    left join identities as shopify_account
        on
            shopify_account.source_system = 'shopify'
            and shopify_account.source_record_id = 'customer:' || users.user_id
),

final as (
    select * from device_resolution
    union all
    select * from user_resolution
)

select * from final
