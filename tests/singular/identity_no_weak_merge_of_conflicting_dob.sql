-- Two records with conflicting strong identifiers (clearly different dates of birth) are never merged
-- by weak (scored) edges: within one customer, any two strong clusters that state a date of birth state
-- the same one or dates one slip apart (macro identity_dates_within_a_slip). Only strong, deterministic
-- edges (same Shopify id ...) may hold two clearly different dates.
with

strong as (
    select distinct
        clusters.cluster_id,
        strong.strong_cluster_id,
        strong.cluster_date_of_birth
    from {{ ref('int_identity__clusters') }} as clusters
    inner join {{ ref('int_identity__strong_clusters') }} as strong on clusters.record_id = strong.record_id
    where strong.cluster_date_of_birth is not null
)

select
    a.cluster_id,
    a.cluster_date_of_birth,
    b.cluster_date_of_birth as other_date_of_birth
from strong as a
inner join strong as b
    on
        a.cluster_id = b.cluster_id
        and a.strong_cluster_id < b.strong_cluster_id
where
    a.cluster_date_of_birth <> b.cluster_date_of_birth
    and not {{ identity_dates_within_a_slip('a.cluster_date_of_birth', 'b.cluster_date_of_birth') }}
