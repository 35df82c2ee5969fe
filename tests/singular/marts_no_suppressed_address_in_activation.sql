{#
    No row the email platform reads may be for an address the suppression guard blocks, nor an invalid,
    role or formula-leading address. Checked against the views as they read now (`email_audience`,
    `cart_abandonment_triggers`), whatever batch a trigger was logged in: a trigger logged before an
    unsubscribe must not be sendable afterwards. The guard (int_engagement__suppression_evidence) reads
    the raw data, not the consent ledger; `consent_ledger_agrees_with_guard` checks the ledger itself.
#}

with

{{ customer360.suppression_guard_ctes() }}

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

judged as (
    select
        activated.activation,
        activated.customer_id,
        activated.email,
        {{ customer360.suppression_guard_block_reason('customer_guard', 'address_guard') }} as guard_block_reason
    from activated
    {{ customer360.suppression_guard_joins('activated.customer_id', 'activated.email') }}
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
