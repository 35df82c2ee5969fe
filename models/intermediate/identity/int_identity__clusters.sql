with

strong as (
    select * from {{ ref('int_identity__strong_clusters') }}
),

accepted_pairs as (
    select
        record_id_a,
        record_id_b,
        match_probability
    from {{ ref('int_identity__scored_pairs') }}
    where decision = 'accept'
),

strong_clusters as (
    select
        strong_cluster_id,
        any_value(cluster_date_of_birth) as cluster_date_of_birth
    from strong
    group by strong_cluster_id
),

accepted as (
    -- Accepted scored edges, lifted to strong-cluster pairs (best edge per pair).
    select
        least(a.strong_cluster_id, b.strong_cluster_id) as cluster_a,
        greatest(a.strong_cluster_id, b.strong_cluster_id) as cluster_b,
        max(pairs.match_probability) as match_probability
    from accepted_pairs as pairs
    inner join strong as a on pairs.record_id_a = a.record_id
    inner join strong as b on pairs.record_id_b = b.record_id
    where a.strong_cluster_id <> b.strong_cluster_id
    group by least(a.strong_cluster_id, b.strong_cluster_id), greatest(a.strong_cluster_id, b.strong_cluster_id)
),

typed as (
    select
        accepted.*,
        ca.cluster_date_of_birth as dob_a,
        cb.cluster_date_of_birth as dob_b
    from accepted
    inner join strong_clusters as ca on accepted.cluster_a = ca.strong_cluster_id
    inner join strong_clusters as cb on accepted.cluster_b = cb.strong_cluster_id
),

dated_edges as (
    select
        cluster_a as node_a,
        cluster_b as node_b
    from typed
    where
        dob_a is not null and dob_b is not null
        and (dob_a = dob_b or {{ identity_dates_within_a_slip('dob_a', 'dob_b') }})
),

same_date_edges as (
    select
        cluster_a as node_a,
        cluster_b as node_b
    from typed
    where dob_a = dob_b
),

undated_edges as (
    select
        cluster_a as node_a,
        cluster_b as node_b
    from typed
    where dob_a is null and dob_b is null
),

{{ identity_label_propagation('dated_edges', var('identity_label_propagation_passes'), 'dated') }},

{{ identity_label_propagation('same_date_edges', var('identity_label_propagation_passes'), 'same_date') }},

{{ identity_label_propagation('undated_edges', var('identity_label_propagation_passes'), 'undated') }},

dated_component_dates as (
    select distinct
        dated_labels.component_id,
        strong_clusters.cluster_date_of_birth
    from dated_labels
    inner join strong_clusters on dated_labels.node_id = strong_clusters.strong_cluster_id
),

chained_components as (
    -- Components that a chain of slips made hold two clearly different dates: they fall back to
    -- joining on the same date only.
    select distinct a.component_id
    from dated_component_dates as a
    inner join dated_component_dates as b
        on
            a.component_id = b.component_id
            and a.cluster_date_of_birth < b.cluster_date_of_birth
    where not {{ identity_dates_within_a_slip('a.cluster_date_of_birth', 'b.cluster_date_of_birth') }}
),

grouped as (
    -- Each strong cluster's group after steps 1 and 2.
    select
        strong_clusters.strong_cluster_id,
        strong_clusters.cluster_date_of_birth,
        case
            when strong_clusters.cluster_date_of_birth is not null and chained_components.component_id is not null
                then coalesce(same_date_labels.component_id, strong_clusters.strong_cluster_id)
            when strong_clusters.cluster_date_of_birth is not null
                then coalesce(dated_labels.component_id, strong_clusters.strong_cluster_id)
            else coalesce(undated_labels.component_id, strong_clusters.strong_cluster_id)
        end as group_id,
        coalesce(dated_labels.is_converged, undated_labels.is_converged, true)
        and coalesce(same_date_labels.is_converged, true) as is_converged
    from strong_clusters
    left join dated_labels on strong_clusters.strong_cluster_id = dated_labels.node_id
    left join same_date_labels on strong_clusters.strong_cluster_id = same_date_labels.node_id
    left join chained_components on dated_labels.component_id = chained_components.component_id
    left join undated_labels on strong_clusters.strong_cluster_id = undated_labels.node_id
),

attachment_candidates as (
    -- Step 3: accepted edges between an undated group and a dated one.
    select
        case when ga.cluster_date_of_birth is null then ga.group_id else gb.group_id end as undated_group_id,
        case when ga.cluster_date_of_birth is null then gb.group_id else ga.group_id end as dated_group_id,
        typed.match_probability
    from typed
    inner join grouped as ga on typed.cluster_a = ga.strong_cluster_id
    inner join grouped as gb on typed.cluster_b = gb.strong_cluster_id
    where (ga.cluster_date_of_birth is null) <> (gb.cluster_date_of_birth is null)
),

attachments as (
    -- ... of which each undated group keeps its best one.
    select
        undated_group_id,
        dated_group_id
    from attachment_candidates
    qualify row_number() over (
        partition by undated_group_id order by match_probability desc, dated_group_id asc
    ) = 1
),

final_groups as (
    select
        grouped.strong_cluster_id,
        coalesce(attachments.dated_group_id, grouped.group_id) as cluster_id,
        grouped.is_converged
    from grouped
    left join attachments on grouped.group_id = attachments.undated_group_id
),

final as (
    select
        strong.record_id,
        strong.record_key,
        strong.strong_cluster_id,
        final_groups.cluster_id,
        count(*) over (partition by final_groups.cluster_id) as cluster_size,
        strong.is_converged and final_groups.is_converged as is_converged
    from strong
    inner join final_groups on strong.strong_cluster_id = final_groups.strong_cluster_id
)

select * from final
