{%- set person_columns = [
    'source_system', 'source_record_id', 'email', 'email_match_key', 'is_role_email', 'phone_e164',
    'first_name', 'last_name', 'first_name_key', 'last_name_key', 'given_name_canonical',
    'date_of_birth', 'address_line1', 'address_line2', 'city', 'postal_code', 'region_code', 'country_code',
    'source_created_at', 'source_updated_at', 'loaded_at',
] -%}
{%- set person_column_list = person_columns | join(', ') -%}

with

hubspot_contacts as (
    select
        'profile' as observation_kind,
        coalesce(source_updated_at, source_created_at, loaded_at) as observed_at,
        {{ person_column_list }},
        cast(null as varchar) as shopify_customer_id,
        cast(null as varchar) as shopify_order_id
    from {{ ref('stg_hubspot__contacts') }}
),

shopify_customers as (
    select
        'profile' as observation_kind,
        coalesce(source_updated_at, source_created_at, loaded_at) as observed_at,
        {{ person_column_list }},
        cast(customer_id as varchar) as shopify_customer_id,
        cast(null as varchar) as shopify_order_id
    from {{ ref('stg_shopify__customers') }}
),

shopify_orders as (
    -- A guest checkout is a source record of its own (order:<id>); an account's order is one more
    -- observation of the account (customer:<id>), as the source itself states.
    select
        case when is_guest_checkout then 'profile' else 'order' end as observation_kind,
        -- An order is observed when it was placed (a later refund updates it, not the person).
        coalesce(source_created_at, source_updated_at, loaded_at) as observed_at,
        {{ person_column_list }},
        cast(customer_id as varchar) as shopify_customer_id,
        cast(order_id as varchar) as shopify_order_id
    from {{ ref('stg_shopify__orders') }}
),

csv_contacts as (
    -- every CSV drop, each its own source system
    select
        'profile' as observation_kind,
        coalesce(source_updated_at, source_created_at, loaded_at) as observed_at,
        {{ person_column_list }},
        cast(null as varchar) as shopify_customer_id,
        cast(null as varchar) as shopify_order_id
    from {{ ref('stg_csv_contacts__contacts') }}
),

segment_observations as (
    select
        'event' as observation_kind,
        coalesce(source_updated_at, source_created_at, loaded_at) as observed_at,
        {{ person_column_list }},
        shopify_customer_id,
        shopify_order_id
    from {{ ref('int_identity__segment_observations') }}
),

unioned as (
    select * from hubspot_contacts
    union all
    select * from shopify_customers
    union all
    select * from shopify_orders
    union all
    select * from csv_contacts
    union all
    select * from segment_observations
),

final as (
    select
        {{ identity_record_key('source_system', 'source_record_id') }} as record_key,
        observation_kind,
        observed_at,
        {{ person_columns | join(',\n        ') }},
        shopify_customer_id,
        shopify_order_id
    from unioned
    where source_record_id is not null
)

select * from final
