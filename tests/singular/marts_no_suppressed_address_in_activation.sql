{#
    No row the email platform reads may be for an address the suppression guard blocks, nor an invalid,
    role or formula-leading address. Checked against the views as they read now (`email_audience`,
    `cart_abandonment_triggers`), whatever batch a trigger was logged in: a trigger logged before an
    unsubscribe must not be sendable afterwards. The guard (int_engagement__suppression_evidence) reads
    the raw data, not the consent ledger; `consent_ledger_agrees_with_guard` checks the ledger itself.
#}

with

activated as (
    select
        'email_audience' as activation,
        customer_id,
        email
    from {{ ref('email_audience') }}
    union all
    select
        'cart_abandonment_triggers' as activation,
        customer_id,
        email
    from {{ ref('cart_abandonment_triggers') }}
),

guard as (
    -- read once: the guard is a view over the raw data, and it is joined twice below
    select
        subject_kind,
        subject_key,
        last_opt_out_at,
        last_valid_opt_in_at,
        is_undeliverable
    from {{ ref('int_engagement__suppression_guard') }}
),

activated_keyed as (
    select
        activation,
        customer_id,
        email,
        {{ customer360.email_match_key('email') }} as email_key
    from activated
),

judged as (
    -- two equality joins (customer, address), as the activation views join the guard
    select
        activated_keyed.activation,
        activated_keyed.customer_id,
        activated_keyed.email,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from activated_keyed
    left join guard as customer_guard
        on customer_guard.subject_kind = 'customer' and activated_keyed.customer_id = customer_guard.subject_key
    left join guard as address_guard
        on address_guard.subject_kind = 'address' and activated_keyed.email_key = address_guard.subject_key
)

select
    activation,
    customer_id,
    email,
    case
        when email is null or not {{ is_valid_email('email') }} then 'invalid address'
        when guard_block_reason is not null then guard_block_reason
        when {{ customer360.regex_matches('email', '^[[:space:]]*[=+@-]') }} then 'formula-leading address'
        {% if not var('send_to_role_emails') %}
            when {{ is_role_email('email') }} then 'role address'
        {% endif %}
    end as violation
from judged
where
    email is null
    or not {{ is_valid_email('email') }}
    or guard_block_reason is not null
    or {{ customer360.regex_matches('email', '^[[:space:]]*[=+@-]') }}
    {% if not var('send_to_role_emails') %}
        or {{ is_role_email('email') }}
    {% endif %}
