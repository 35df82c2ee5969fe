-- Guard: an email, phone or id shared by more than var identity_max_records_per_identifier source
-- records never makes a strong edge.
select
    edges.record_key_a,
    edges.record_key_b,
    edges.identifier_type,
    identifiers.records_sharing
from {{ ref('int_identity__deterministic_edges') }} as edges
inner join {{ ref('int_identity__identifiers') }} as identifiers
    on
        edges.record_key_a = identifiers.record_key
        and edges.identifier_type = identifiers.identifier_type
        and edges.identifier_value = identifiers.identifier_value
where edges.is_strong and identifiers.records_sharing > {{ var('identity_max_records_per_identifier') }}
