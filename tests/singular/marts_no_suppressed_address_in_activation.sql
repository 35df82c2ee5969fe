{#
    No suppressed, bounced or invalid address may reach the email platform, however the sources
    disagree. Re-derived here from the staged signals themselves (every person model, Segment email events
    and the consent snapshot's history), not from the marts' own consent models, and checked against
    `email_audience` and the batch of `cart_abandonment_triggers` the running build emits (earlier batches
    were checked by the build that emitted them). A row fails when its address:
      - is not a syntactically valid address;
      - was reported bounced / undeliverable by any source, at any time;
      - or was opted out (by any record of the customer, or by any source naming the address) with no
        explicit opt-in after it (same instant: the opt-out stands);
      - is a role address while `send_to_role_emails` is false.
#}

{%- set person_models = [
    'stg_hubspot__contacts', 'stg_shopify__customers', 'stg_shopify__orders', 'stg_segment__events'
] -%}
{%- for drop in var('csv_contact_drops') -%}
    {%- do person_models.append('stg_csv_contacts__' ~ drop) -%}
{%- endfor %}

with

raw_signals as (
    {% for model in person_models -%}
        select
            source_system,
            source_record_id,
            email,
            email_consent_state as consent_state,
            coalesce(email_consent_updated_at, source_updated_at, source_created_at, loaded_at) as signal_at
        from {{ ref(model) }}
        union all
    {% endfor -%}
    select
        source_system,
        source_record_id,
        email,
        consent_state,
        coalesce(consent_updated_at, record_updated_at, dbt_valid_from) as signal_at
    from {{ ref('email_consent_snapshot') }}
),

signals as (
    select
        raw_signals.*,
        identities.customer_id,
        coalesce(rules.is_explicit, true) as is_explicit
    from raw_signals
    left join {{ ref('customer_identities') }} as identities
        on
            raw_signals.source_system = identities.source_system
            and raw_signals.source_record_id = identities.source_record_id
    left join {{ ref('consent_signal_rules') }} as rules
        on raw_signals.source_system = rules.source_system and raw_signals.consent_state = rules.consent_state
    where raw_signals.consent_state in ('opted_in', 'opted_out', 'invalid')
),

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
    -- the triggers this build emits; earlier batches were checked by the build that emitted them (a
    -- customer may rightly unsubscribe after being sent a reminder)
    where trigger_batch_id = '{{ invocation_id }}'
),

applicable as (
    -- the signals that bear on an activated row: the customer's own, and any naming the address
    select
        activated.activation,
        activated.customer_id,
        activated.email,
        signals.consent_state,
        signals.is_explicit,
        signals.email as signal_email,
        signals.signal_at
    from activated
    inner join signals
        on activated.customer_id = signals.customer_id or activated.email = signals.email
),

verdicts as (
    select
        activation,
        customer_id,
        email,
        max(case when consent_state = 'invalid' and signal_email = email then 1 else 0 end) as is_bounced,
        max(case when consent_state = 'opted_out' then signal_at end) as last_opt_out_at,
        max(case when consent_state = 'opted_in' and is_explicit then signal_at end) as last_explicit_opt_in_at
    from applicable
    group by activation, customer_id, email
)

select
    activated.activation,
    activated.customer_id,
    activated.email,
    case
        when activated.email is null or not {{ is_valid_email('activated.email') }} then 'invalid address'
        when verdicts.is_bounced = 1 then 'bounced or undeliverable'
        when
            verdicts.last_opt_out_at is not null
            and (
                verdicts.last_explicit_opt_in_at is null or verdicts.last_opt_out_at >= verdicts.last_explicit_opt_in_at
            )
            then 'unsubscribed'
        {% if not var('send_to_role_emails') %}
            when {{ is_role_email('activated.email') }} then 'role address'
        {% endif %}
    end as violation
from activated
left join verdicts
    on
        activated.activation = verdicts.activation
        and activated.customer_id = verdicts.customer_id
        and activated.email = verdicts.email
where
    activated.email is null
    or not {{ is_valid_email('activated.email') }}
    or verdicts.is_bounced = 1
    or (
        verdicts.last_opt_out_at is not null
        and (verdicts.last_explicit_opt_in_at is null or verdicts.last_opt_out_at >= verdicts.last_explicit_opt_in_at)
    )
    {% if not var('send_to_role_emails') %}
        or {{ is_role_email('activated.email') }}
    {% endif %}
