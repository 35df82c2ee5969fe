-- Guard: an identifier listed in seed identity_exclusions (test@example.com, +15555555555 ...) never
-- makes a strong edge.
select
    edges.record_key_a,
    edges.record_key_b,
    edges.identifier_type,
    edges.identifier_value
from {{ ref('int_identity__deterministic_edges') }} as edges
inner join {{ ref('identity_exclusions') }} as exclusions
    on
        edges.identifier_type = lower(trim(exclusions.identifier_type))
        and lower(edges.identifier_value) = lower(trim(exclusions.identifier_value))
where edges.is_strong
