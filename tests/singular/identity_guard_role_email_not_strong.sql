-- Guard: a role address (info@, sales@ ... from seed role_email_local_parts) never makes a strong edge;
-- several people at one company share it.
select
    edges.record_key_a,
    edges.record_key_b,
    edges.identifier_value
from {{ ref('int_identity__deterministic_edges') }} as edges
inner join {{ ref('int_identity__identifiers') }} as identifiers
    on
        edges.record_key_a = identifiers.record_key
        and edges.identifier_type = identifiers.identifier_type
        and edges.identifier_value = identifiers.identifier_value
where edges.is_strong and identifiers.is_role_email
