{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{#- What a customer's picks depend on besides its observations and their sources' trust: this file, the survivorship
    orders the rules var renders, and the engine (macro identity_logic_fingerprint). Part of every customer's state,
    so a change picks every customer's attributes again. -#}
{%- set survivorship_orders = [] %}
{%- for attribute in ['email', 'phone', 'name', 'address', 'date_of_birth'] %}
    {%- do survivorship_orders.append(identity_survivorship_order(identity_survivorship_rule(attribute))) %}
{%- endfor %}
{%- set picking_logic_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code ~ tojson(survivorship_orders)
) %}

with

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

priorities as (
    select
        source_system,
        trust_rank
    from {{ ref('identity_source_priorities') }}
),

source_observations as (
    select * from {{ ref('int_identity__observations') }}
),

{% if is_incremental() and 'customer_state' in stored_columns -%}
    stored_attributes as (
        select * from {{ this }}
    ),
{%- endif %}

all_observations as (
    select
        identities.customer_id,
        observations.*,
        coalesce(priorities.trust_rank, 99) as trust_rank,
        observations.observation_kind = 'order' or observations.source_record_id like 'order:%' as is_order
    from source_observations as observations
    inner join identities
        on
            observations.source_system = identities.source_system
            and observations.source_record_id = identities.source_record_id
    left join priorities on observations.source_system = priorities.source_system
),

hashed_observations as (
    -- a hash of the whole observation with its customer and its source's trust: part of the customer's state, and
    -- the last tie-break of every pick (macro identity_survivorship_order), so a choice never depends on read order
    select
        all_observations.*,
        {{ customer360.identity_row_hash('all_observations') }} as observation_hash
    from all_observations
),

customer_list as (
    select distinct customer_id from identities
),

state_parts as (
    -- everything a customer's picks depend on: its observations with their sources' trust, and the picking logic
    select
        customer_list.customer_id,
        {{ customer360.identity_rows_fingerprint('hashed_observations.observation_hash') }} as observations_fingerprint,
        {{ picking_logic_fingerprint }} as picking_logic_fingerprint
    from customer_list
    left join hashed_observations on customer_list.customer_id = hashed_observations.customer_id
    group by customer_list.customer_id
),

customer_states as (
    select
        customer_id,
        {{ customer360.identity_row_hash('state_parts') }} as customer_state
    from state_parts
),

{% if is_incremental() and 'customer_state' in stored_columns %}
    touched as (
        -- customers whose state moved since their attributes were picked, and new customers; a customer gone from
        -- the map leaves by the post-hook; every other row is kept
        select customer_id
        from customer_states
        where not exists (
            select 1
            from stored_attributes
            where
                stored_attributes.customer_id = customer_states.customer_id
                and stored_attributes.customer_state = customer_states.customer_state
        )
    ),
{% else %}
    touched as (
        select customer_id from customer_states
    ),
{% endif %}

observations as (
    select hashed_observations.*
    from hashed_observations
    inner join touched on hashed_observations.customer_id = touched.customer_id
),

email_candidates as (
    select
        *,
        1 as completeness,
        count(*) over (partition by customer_id, email_match_key) as value_count
    from observations
    where email is not null
),

email_pick as (
    select
        customer_id,
        email,
        is_role_email,
        source_system as email_source_system,
        source_record_id as email_source_record_id
    from email_candidates
    qualify row_number() over (
        partition by customer_id
        order by coalesce(is_role_email, false), {{ identity_survivorship_order(identity_survivorship_rule('email')) }}
    ) = 1
),

phone_candidates as (
    select
        *,
        1 as completeness,
        count(*) over (partition by customer_id, phone_e164) as value_count
    from observations
    where phone_e164 is not null
),

phone_pick as (
    select
        customer_id,
        phone_e164,
        source_system as phone_source_system,
        source_record_id as phone_source_record_id
    from phone_candidates
    qualify row_number() over (
        partition by customer_id order by {{ identity_survivorship_order(identity_survivorship_rule('phone')) }}
    ) = 1
),

name_candidates as (
    select
        *,
        -- Both parts first, then the fuller spelling (William over Bill).
        ((first_name is not null)::int + (last_name is not null)::int) * 100
        + length(coalesce(first_name, '')) + length(coalesce(last_name, '')) as completeness,
        count(*) over (partition by customer_id, first_name, last_name) as value_count
    from observations
    where first_name is not null or last_name is not null
),

name_pick as (
    select
        customer_id,
        first_name,
        last_name,
        source_system as name_source_system,
        source_record_id as name_source_record_id
    from name_candidates
    qualify row_number() over (
        partition by customer_id order by {{ identity_survivorship_order(identity_survivorship_rule('name')) }}
    ) = 1
),

address_candidates as (
    select
        *,
        (address_line1 is not null)::int + (city is not null)::int + (postal_code is not null)::int
        + (region_code is not null)::int + (country_code is not null)::int as completeness,
        count(*) over (partition by customer_id, address_line1, postal_code) as value_count
    from observations
    where address_line1 is not null or postal_code is not null or city is not null
),

address_pick as (
    select
        customer_id,
        address_line1,
        address_line2,
        city,
        postal_code,
        region_code,
        country_code,
        source_system as address_source_system,
        source_record_id as address_source_record_id
    from address_candidates
    qualify row_number() over (
        partition by customer_id order by {{ identity_survivorship_order(identity_survivorship_rule('address')) }}
    ) = 1
),

date_of_birth_candidates as (
    select
        *,
        1 as completeness,
        count(*) over (partition by customer_id, date_of_birth) as value_count
    from observations
    where date_of_birth is not null
),

date_of_birth_pick as (
    select
        customer_id,
        date_of_birth,
        source_system as date_of_birth_source_system,
        source_record_id as date_of_birth_source_record_id
    from date_of_birth_candidates
    qualify row_number() over (
        partition by customer_id
        order by {{ identity_survivorship_order(identity_survivorship_rule('date_of_birth')) }}
    ) = 1
),

customer_ids as (
    select
        customer_states.customer_id,
        customer_states.customer_state
    from customer_states
    inner join touched on customer_states.customer_id = touched.customer_id
),

final as (
    select
        customer_ids.customer_id,
        email_pick.email,
        coalesce(email_pick.is_role_email, false) as is_role_email,
        email_pick.email_source_system,
        email_pick.email_source_record_id,
        phone_pick.phone_e164,
        phone_pick.phone_source_system,
        phone_pick.phone_source_record_id,
        name_pick.first_name,
        name_pick.last_name,
        name_pick.name_source_system,
        name_pick.name_source_record_id,
        address_pick.address_line1,
        address_pick.address_line2,
        address_pick.city,
        address_pick.postal_code,
        address_pick.region_code,
        address_pick.country_code,
        address_pick.address_source_system,
        address_pick.address_source_record_id,
        date_of_birth_pick.date_of_birth,
        date_of_birth_pick.date_of_birth_source_system,
        date_of_birth_pick.date_of_birth_source_record_id,
        customer_ids.customer_state
    from customer_ids
    left join email_pick on customer_ids.customer_id = email_pick.customer_id
    left join phone_pick on customer_ids.customer_id = phone_pick.customer_id
    left join name_pick on customer_ids.customer_id = name_pick.customer_id
    left join address_pick on customer_ids.customer_id = address_pick.customer_id
    left join date_of_birth_pick on customer_ids.customer_id = date_of_birth_pick.customer_id
)

select * from final
