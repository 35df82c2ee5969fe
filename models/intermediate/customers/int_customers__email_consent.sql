with

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

observations as (
    select
        source_system,
        source_record_id,
        email,
        is_role_email
    from {{ ref('int_identity__observations') }}
    where email is not null
),

consent_signals as (
    select * from {{ ref('int_engagement__consent_signals') }}
),

addresses as (
    select
        identities.customer_id,
        observations.email,
        max(case when observations.is_role_email then 1 else 0 end) = 1 as is_role_email,
        -- one mailbox, however it is written: a bounce or opt-out of jane@x.com holds for jane+shop@x.com. The
        -- ledger keys the address itself, not through the observations' stored key as the guard does: a wrong
        -- stored key would then make both miss the same unsubscribe, and consent_ledger_agrees_with_guard see nothing
        coalesce({{ customer360.email_match_key('observations.email') }}, observations.email) as mailbox_key
    from observations
    inner join identities
        on
            observations.source_system = identities.source_system
            and observations.source_record_id = identities.source_record_id
    group by identities.customer_id, observations.email, mailbox_key
),

signals as {{ customer360.materialized_cte() }} (
    -- materialized: three joins read it, and the key would be computed for every signal in each
    select
        consent_signal_id,
        customer_id,
        source_system,
        email,
        consent_state,
        is_explicit,
        signal_at,
        coalesce({{ customer360.email_match_key('email') }}, email) as mailbox_key,
        case consent_state when 'opted_in' then 1 when 'pending' then 2 when 'opted_out' then 3 else 4 end
            as state_precedence
    from consent_signals
),

relevant as (
    -- each signal bearing on a customer's address, once: the three routes below never give the same (address,
    -- signal), and the third is deduplicated alone (a `union` of all three deduplicated 3.4M rows of 11 columns at
    -- 1M people, a fifth of the model's time)
    select
        addresses.customer_id,
        addresses.email as address,
        signals.consent_signal_id,
        signals.source_system,
        signals.email as signal_email,
        signals.consent_state,
        signals.is_explicit,
        signals.signal_at,
        signals.mailbox_key as signal_mailbox_key,
        addresses.mailbox_key,
        signals.state_precedence
    from addresses
    inner join signals on addresses.customer_id = signals.customer_id
    union all
    -- a signal naming the address's mailbox: of another customer's record (the customer's own are above), or of
    -- no record (an id-less opt-out is the third route's)
    select
        addresses.customer_id,
        addresses.email as address,
        signals.consent_signal_id,
        signals.source_system,
        signals.email as signal_email,
        signals.consent_state,
        signals.is_explicit,
        signals.signal_at,
        signals.mailbox_key as signal_mailbox_key,
        addresses.mailbox_key,
        signals.state_precedence
    from addresses
    inner join signals on addresses.mailbox_key = signals.mailbox_key
    where
        signals.customer_id is distinct from addresses.customer_id
        and not (signals.customer_id is null and signals.consent_state = 'opted_out')
    union all
    -- a signal without a source record (an id-less Segment unsubscribe) naming one of the customer's
    -- mailboxes is the customer's: it bears on every address of theirs (once, however many name it)
    select distinct
        addresses.customer_id,
        addresses.email as address,
        signals.consent_signal_id,
        signals.source_system,
        signals.email as signal_email,
        signals.consent_state,
        signals.is_explicit,
        signals.signal_at,
        signals.mailbox_key as signal_mailbox_key,
        addresses.mailbox_key,
        signals.state_precedence
    from addresses
    inner join addresses as owned_addresses on addresses.customer_id = owned_addresses.customer_id
    inner join signals on owned_addresses.mailbox_key = signals.mailbox_key
    where signals.customer_id is null and signals.consent_state = 'opted_out'
),

consent_ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, address, is_explicit
            -- an undated opt-in (null signal_at) comes last: it stands only where nothing dated was said
            order by signal_at desc nulls last, state_precedence desc, consent_signal_id desc
        ) as recency_rank
    from relevant
    where consent_state in ('opted_in', 'opted_out', 'pending')
),

latest_explicit as (
    select * from consent_ranked
    where is_explicit and recency_rank = 1
),

latest_implied as (
    select * from consent_ranked
    where not is_explicit and recency_rank = 1
),

undeliverable as (
    select
        customer_id,
        address,
        max(signal_at) as undeliverable_since
    from relevant
    where consent_state = 'invalid' and signal_mailbox_key = mailbox_key
    group by customer_id, address
),

resolved as (
    select
        addresses.customer_id,
        addresses.email,
        addresses.is_role_email,
        undeliverable.undeliverable_since,
        coalesce(latest_explicit.consent_state, latest_implied.consent_state, 'unknown') as consent_state,
        case
            when latest_explicit.consent_state is not null then 'explicit'
            when latest_implied.consent_state is not null then 'implied'
            else 'none'
        end as consent_basis,
        coalesce(latest_explicit.source_system, latest_implied.source_system) as consent_source_system,
        coalesce(latest_explicit.signal_at, latest_implied.signal_at) as consent_updated_at,
        undeliverable.undeliverable_since is not null as is_undeliverable
    from addresses
    left join latest_explicit
        on addresses.customer_id = latest_explicit.customer_id and addresses.email = latest_explicit.address
    left join latest_implied
        on addresses.customer_id = latest_implied.customer_id and addresses.email = latest_implied.address
    left join undeliverable
        on addresses.customer_id = undeliverable.customer_id and addresses.email = undeliverable.address
),

final as (
    select
        *,
        {{ is_valid_email('email') }} as is_valid_email,
        (
            consent_state in ({{ "'" ~ var('sendable_consent_states') | join("', '") ~ "'" }})
            {% if not var('send_on_implied_consent') %}and consent_basis = 'explicit'{% endif %}
            and not is_undeliverable
            and {{ is_valid_email('email') }}
            {% if not var('send_to_role_emails') %}and not is_role_email{% endif %}
        ) as is_email_sendable,
        case
            when consent_state = 'opted_out' then 'unsubscribed'
            when is_undeliverable then 'undeliverable'
            when not {{ is_valid_email('email') }} then 'invalid_address'
            {% if not var('send_to_role_emails') %}when is_role_email then 'role_address'{% endif %}
            when consent_state = 'pending' then 'consent_pending'
            when consent_state not in ({{ "'" ~ var('sendable_consent_states') | join("', '") ~ "'" }})
                then 'no_consent'
        {% if not var('send_on_implied_consent') %}when consent_basis <> 'explicit' then 'implied_consent_only'{% endif %}
        end as not_sendable_reason
    from resolved
)

select * from final
