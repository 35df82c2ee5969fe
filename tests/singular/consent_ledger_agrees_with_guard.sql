{#
    The consent ledger (int_customers__email_consent, from staging) and the suppression guard
    (int_engagement__suppression_evidence, from the raw tables) are two implementations of the consent
    rule. Any address the ledger calls sendable while the guard's readable evidence blocks it is a bug in
    one of them: the activation views already withhold it (both must agree to send), and this test fails
    the build so the disagreement is seen. Evidence the ledger cannot read by design is left out here:
    Segment lines and CSV rows the loaders rejected, deletions (issue 11: deleted records have left
    staging), and the opt-outs of records gone from the identity map, which the guard still ties to the
    customers that held them (customer_link 'departed_record'); only the guard suppresses on them. So are
    CSV opt-outs the guard dates from an uncertain text (csv_row_uncertain_date: several formats read it
    differently, none reads it, or there is none): the guard takes the latest day the text can mean, the
    ledger the drop's detected format, by design.
    Last, a live HubSpot or Shopify opt-out whose record's current snapshot version is the same opt-out
    (same address) and which the guard dates after that capture (`snapshot_captured_at`) is compared
    through the guard's `consent_history` row for the version, dated as the ledger dates it. The live row
    is dated by the record's latest update or load, which every later edit and reload moves on: an edit
    cannot be told from the opt-out set again, so there the guard is stricter by design and withholds the
    address. A live reading dated before the capture, or one whose address or state the snapshot does not
    hold as current, is still compared.
#}

with

evidence as (
    select * from {{ ref('int_engagement__suppression_evidence') }}
    where
        evidence_origin not in (
            'segment_unreadable_line', 'csv_unreadable_row', 'csv_row_uncertain_date', 'hubspot_deletion',
            'shopify_deletion'
        )
        and coalesce(customer_link, 'identity_map') = 'identity_map'
        -- a live reading later than the snapshot's capture of the same opt-out (an edit or reload since)
        and not (snapshot_captured_at is not null and evidence_at > snapshot_captured_at)
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
