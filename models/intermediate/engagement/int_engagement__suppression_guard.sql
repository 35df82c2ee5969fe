with

evidence as (
    select * from {{ ref('int_engagement__suppression_evidence') }}
),

observations as (
    select
        source_system,
        source_record_id,
        email_match_key
    from {{ ref('int_identity__observations') }}
    where email is not null
),

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

unowned_opt_out_addresses as (
    -- the addresses an unsubscribe with no record of its own names: only their holders are looked up (a few
    -- thousand of 4M observed addresses at 1M people; every holder of every address took a third of a read)
    select distinct email_key
    from evidence
    where customer_id is null and evidence_kind = 'opt_out' and email_key is not null
),

address_owners as (
    -- the customers who hold such an address: the unsubscribe is theirs.
    -- The observations' stored key, not the macro again on 4M addresses per read (a quarter of an activation
    -- view's cost at 1M people); singular test consent_guard_address_keys_are_the_macros checks it is the same
    -- key
    select distinct
        identities.customer_id,
        observations.email_match_key as email_key
    from observations
    inner join unowned_opt_out_addresses
        on observations.email_match_key = unowned_opt_out_addresses.email_key
    inner join identities
        on
            observations.source_system = identities.source_system
            and observations.source_record_id = identities.source_record_id
),

customer_evidence as (
    select
        customer_id,
        evidence_kind,
        evidence_at
    from evidence
    where customer_id is not null
    union all
    select
        address_owners.customer_id,
        evidence.evidence_kind,
        evidence.evidence_at
    from evidence
    inner join address_owners on evidence.email_key = address_owners.email_key
    where evidence.customer_id is null and evidence.evidence_kind = 'opt_out'
),

by_address as (
    select
        'address' as subject_kind,
        email_key as subject_key,
        max(case when evidence_kind = 'opt_out' then evidence_at end) as last_opt_out_at,
        max(case when evidence_kind = 'valid_opt_in' then evidence_at end) as last_valid_opt_in_at,
        max(case when evidence_kind = 'undeliverable' then 1 else 0 end) = 1 as is_undeliverable,
        count(*) as evidence_count
    from evidence
    where email_key is not null
    group by email_key
),

by_customer as (
    select
        'customer' as subject_kind,
        customer_id as subject_key,
        max(case when evidence_kind = 'opt_out' then evidence_at end) as last_opt_out_at,
        max(case when evidence_kind = 'valid_opt_in' then evidence_at end) as last_valid_opt_in_at,
        -- a bounce is about an address, not a person
        false as is_undeliverable,
        count(*) as evidence_count
    from customer_evidence
    group by customer_id
),

subjects as (
    select * from by_address
    union all
    select * from by_customer
),

final as (
    select
        {{ dbt.concat(['subject_kind', "':'", 'subject_key']) }} as guard_subject_id,
        subject_kind,
        subject_key,
        last_opt_out_at,
        last_valid_opt_in_at,
        is_undeliverable,
        evidence_count
    from subjects
)

select * from final
