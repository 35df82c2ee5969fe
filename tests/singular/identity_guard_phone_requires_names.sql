-- Guard: households share landlines, so a shared phone is a strong edge only when both records name
-- the same person (first names known and agreeing, last names agreeing) and do not give two different
-- personal emails.
select
    edges.record_key_a,
    edges.record_key_b,
    a.first_name_key,
    b.first_name_key as other_first_name_key
from {{ ref('int_identity__deterministic_edges') }} as edges
inner join {{ ref('int_identity__source_records') }} as a on edges.record_key_a = a.record_key
inner join {{ ref('int_identity__source_records') }} as b on edges.record_key_b = b.record_key
where
    edges.is_strong
    and edges.match_rule = 'phone_exact_and_name'
    and (
        a.first_name_key is null
        or b.first_name_key is null
        or not {{ identity_names_compatible('a', 'b') }}
        or (
            not a.is_role_email and not b.is_role_email
            and a.email_match_key <> b.email_match_key
        )
    )
