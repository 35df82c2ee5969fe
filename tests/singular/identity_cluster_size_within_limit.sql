-- Guard against over-merging: no customer may hold more source records than var identity_max_cluster_size.
-- A failure usually means an identifier slipped past the guards (a placeholder email, a shared phone).
select
    cluster_id,
    max(cluster_size) as cluster_size
from {{ ref('int_identity__clusters') }}
where cluster_size > {{ var('identity_max_cluster_size') }}
group by cluster_id
