{%- set carries_identity_signal -%}
    email is not null or phone_e164 is not null or first_name_key is not null or last_name_key is not null
    or date_of_birth is not null or address_line1 is not null or city is not null or postal_code is not null
    or (event_name = 'Order Completed' and order_id is not null)
{%- endset %}

with

events as (
    -- Every message with an id, narrow: the device and record assignment below reads all of them
    -- (17M at 1M people), the person columns only the few person messages need.
    select
        anonymous_id,
        user_id,
        coalesce(event_at, loaded_at) as event_at,
        loaded_at,
        ({{ carries_identity_signal }}) as is_person_message
    from {{ ref('stg_segment__events') }}
    -- Messages with neither id are quarantined by staging (rule missing_identity).
    where anonymous_id is not null or user_id is not null
),

person_message_rows as (
    -- The messages that carry an identity signal besides a userId: identify traits or an email event's
    -- address (person columns), or an Order Completed order id (carries_identity_signal, above).
    select *
    from {{ ref('stg_segment__events') }}
    where (anonymous_id is not null or user_id is not null) and ({{ carries_identity_signal }})
),

device_users as (
    -- The account a device was last seen logged into.
    select
        anonymous_id,
        arg_max(user_id, event_at) as user_id
    from events
    where anonymous_id is not null and user_id is not null
    group by anonymous_id
),

user_devices as (
    -- The device a userId was last seen on, for messages that carry the userId only.
    select
        user_id,
        arg_max(anonymous_id, event_at) as anonymous_id
    from events
    where anonymous_id is not null and user_id is not null
    group by user_id
),

id_pairs as (
    -- A message's record depends on its two ids only, so the messages are summarized per id pair first:
    -- the assignment then joins a tenth of the rows (first/last/any of a record are those of its pairs).
    select
        anonymous_id,
        user_id,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        max(loaded_at) as loaded_at,
        bool_or(is_person_message) as has_person_message
    from events
    group by anonymous_id, user_id
),

assigned as (
    select
        id_pairs.*,
        coalesce(id_pairs.anonymous_id, user_devices.anonymous_id) as device_id
    from id_pairs
    left join user_devices
        on id_pairs.anonymous_id is null and id_pairs.user_id = user_devices.user_id
),

with_record as (
    select
        assigned.*,
        case
            when assigned.device_id is not null then 'anonymous:' || assigned.device_id
            else 'user:' || assigned.user_id
        end as source_record_id,
        case
            when assigned.device_id is not null then device_users.user_id
            else assigned.user_id
        end as linked_user_id
    from assigned
    left join device_users on assigned.device_id = device_users.anonymous_id
),

person_messages as (
    -- The messages with an identity signal, with their id pair's record.
    select
        with_record.source_record_id,
        with_record.linked_user_id,
        messages.email,
        messages.email_match_key,
        messages.is_role_email,
        messages.phone_e164,
        messages.first_name,
        messages.last_name,
        messages.first_name_key,
        messages.last_name_key,
        messages.given_name_canonical,
        messages.date_of_birth,
        messages.address_line1,
        messages.address_line2,
        messages.city,
        messages.postal_code,
        messages.region_code,
        messages.country_code,
        case when messages.event_name = 'Order Completed' then messages.order_id end as shopify_order_id,
        coalesce(messages.event_at, messages.loaded_at) as event_at,
        messages.loaded_at
    from person_message_rows as messages
    inner join with_record
        on
            messages.anonymous_id is not distinct from with_record.anonymous_id
            and messages.user_id is not distinct from with_record.user_id
),

record_links as (
    -- One row per record that carries an identity signal (docs/data_contracts.md, Truth): seen with a
    -- userId, or with a person message. A device that only browsed describes no person: it is not a
    -- source record, and its sessions stay anonymous in web_sessions.
    select
        source_record_id,
        any_value(linked_user_id) as linked_user_id,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        max(loaded_at) as loaded_at
    from with_record
    group by source_record_id
    having bool_or(linked_user_id is not null) or bool_or(has_person_message)
),

final as (
    select
        'segment' as source_system,
        source_record_id,
        cast(null as varchar) as email,
        cast(null as varchar) as email_match_key,
        cast(null as boolean) as is_role_email,
        cast(null as varchar) as phone_e164,
        cast(null as varchar) as first_name,
        cast(null as varchar) as last_name,
        cast(null as varchar) as first_name_key,
        cast(null as varchar) as last_name_key,
        cast(null as varchar) as given_name_canonical,
        cast(null as date) as date_of_birth,
        cast(null as varchar) as address_line1,
        cast(null as varchar) as address_line2,
        cast(null as varchar) as city,
        cast(null as varchar) as postal_code,
        cast(null as varchar) as region_code,
        cast(null as varchar) as country_code,
        first_event_at as source_created_at,
        last_event_at as source_updated_at,
        loaded_at,
        linked_user_id as shopify_customer_id,
        cast(null as varchar) as shopify_order_id
    from record_links

    union all

    select
        'segment' as source_system,
        source_record_id,
        email,
        email_match_key,
        is_role_email,
        phone_e164,
        first_name,
        last_name,
        first_name_key,
        last_name_key,
        given_name_canonical,
        date_of_birth,
        address_line1,
        address_line2,
        city,
        postal_code,
        region_code,
        country_code,
        event_at as source_created_at,
        event_at as source_updated_at,
        loaded_at,
        linked_user_id as shopify_customer_id,
        shopify_order_id
    from person_messages
)

select * from final
