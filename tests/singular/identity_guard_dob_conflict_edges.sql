-- Guard: no edge used for a customer joins two records stating clearly different dates of birth (more
-- than one slip apart: a mistyped or transposed digit, day and month swapped), neither a deterministic
-- email/phone edge nor a scored one (only the sources' own links may: they are facts).
select
    edges.record_key_a,
    edges.record_key_b,
    edges.match_rule,
    a.date_of_birth,
    b.date_of_birth as other_date_of_birth
from {{ ref('int_identity__edges') }} as edges
inner join {{ ref('int_identity__source_records') }} as a on edges.record_key_a = a.record_key
inner join {{ ref('int_identity__source_records') }} as b on edges.record_key_b = b.record_key
where
    edges.match_rule not in ('shopify_customer_id', 'shopify_order_id', 'hubspot_merge')
    and a.date_of_birth <> b.date_of_birth
    and not {{ identity_dates_within_a_slip('a.date_of_birth', 'b.date_of_birth') }}
