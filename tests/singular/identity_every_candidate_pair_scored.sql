-- Every candidate pair is scored, once: the incremental comparisons must hold each candidate's levels. The scored
-- pairs are an inner join of the candidates (unique by construction) and the comparisons (tested unique), so equal
-- counts mean equal sets, at the cost of two counts.
with

candidates as (
    select count(*) as pairs from {{ ref('int_identity__candidate_pairs') }}
),

scored as (
    select count(*) as pairs from {{ ref('int_identity__scored_pairs') }}
)

select
    candidates.pairs as candidate_pairs,
    scored.pairs as scored_pairs
from candidates
cross join scored
where candidates.pairs <> scored.pairs
