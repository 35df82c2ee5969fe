{#
    The consent ledger (int_customers__email_consent, from staging) and the suppression guard
    (int_engagement__suppression_evidence, from the raw tables) are two implementations of the consent
    rule. Any address the ledger calls sendable while the guard's readable evidence blocks it is a bug in
    one of them: the activation views already withhold it (both must agree to send), and this test fails
    the build so the disagreement is seen. Evidence the ledger cannot read by design is left out here:
    Segment lines and CSV rows the loaders rejected, and deletions (issue 11: deleted records have left
    staging); only the guard suppresses on them. So are CSV opt-outs the guard dates from an uncertain text
    (csv_row_uncertain_date: several formats read it differently, none reads it, or there is none): the
    guard takes the latest day the text can mean, the ledger the drop's detected format, by design.
    Last, a live HubSpot or Shopify opt-out whose record the consent snapshot already holds as an opt-out
    (its current version) is compared through the guard's `consent_history` row for that version, dated
    as the ledger dates it (by the capture). The live row is dated by the record's latest update or load,
    which every later edit and reload moves on: an edit cannot be told from the opt-out set again, so
    there the guard is stricter by design and withholds the address.
#}

with

captured_opt_outs as (
    -- records whose current consent snapshot version is an opt-out (snapshot config dbt_valid_to_current)
    select
        source_system,
        source_record_id
    from {{ ref('email_consent_snapshot') }}
    where
        consent_state = 'opted_out'
        and dbt_valid_to = cast('9999-12-31' as {{ dbt.type_timestamp() }})
),

evidence as (
    select all_evidence.*
    from {{ ref('int_engagement__suppression_evidence') }} as all_evidence
    left join captured_opt_outs
        on
            all_evidence.source_system = captured_opt_outs.source_system
            and all_evidence.source_record_id = captured_opt_outs.source_record_id
            and all_evidence.evidence_origin in ('hubspot_contact', 'shopify_customer')
            and all_evidence.evidence_kind = 'opt_out'
    where
        all_evidence.evidence_origin not in (
            'segment_unreadable_line', 'csv_unreadable_row', 'csv_row_uncertain_date', 'hubspot_deletion',
            'shopify_deletion'
        )
        and captured_opt_outs.source_record_id is null
),

sendable as (
    select
        customer_id,
        email,
        {{ customer360.email_match_key('email') }} as email_key
    from {{ ref('int_customers__email_consent') }}
    where is_email_sendable
),

applicable as (
    -- the evidence bearing on a sendable (customer, address): the customer's own, and any naming the address
    select
        sendable.customer_id,
        sendable.email,
        evidence.evidence_kind,
        evidence.evidence_at,
        evidence.email_key = sendable.email_key as names_address
    from sendable
    inner join evidence on sendable.customer_id = evidence.customer_id
    union all
    select
        sendable.customer_id,
        sendable.email,
        evidence.evidence_kind,
        evidence.evidence_at,
        true as names_address
    from sendable
    inner join evidence on sendable.email_key = evidence.email_key
),

verdicts as (
    select
        customer_id,
        email,
        max(case when evidence_kind = 'undeliverable' and names_address then 1 else 0 end) as is_undeliverable,
        max(case when evidence_kind = 'opt_out' then evidence_at end) as last_opt_out_at,
        max(case when evidence_kind = 'valid_opt_in' then evidence_at end) as last_valid_opt_in_at
    from applicable
    group by customer_id, email
)

select
    customer_id,
    email,
    case when is_undeliverable = 1 then 'undeliverable' else 'unsubscribed' end as guard_verdict,
    last_opt_out_at,
    last_valid_opt_in_at
from verdicts
where
    is_undeliverable = 1
    or (last_opt_out_at is not null and (last_valid_opt_in_at is null or last_valid_opt_in_at <= last_opt_out_at))
