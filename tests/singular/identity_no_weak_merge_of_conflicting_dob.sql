-- Two records with conflicting strong identifiers (different dates of birth) are never merged by a
-- weak (scored) edge: within one customer, every strong cluster that states a date of birth states the
-- same one. Only strong, deterministic edges (same Shopify id, same email ...) may hold two dates.
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
    cluster_id,
    count(distinct cluster_date_of_birth) as dates_of_birth
from strong
group by cluster_id
having count(distinct cluster_date_of_birth) > 1
