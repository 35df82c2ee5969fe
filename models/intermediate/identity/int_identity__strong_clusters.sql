with

records as (
    select
        record_id,
        record_key,
        date_of_birth
    from {{ ref('int_identity__source_records') }}
),

deterministic_edges as (
    select
        record_key_a,
        record_key_b
    from {{ ref('int_identity__deterministic_edges') }}
    where is_strong
),

strong_edges as (
    select
        a.record_id as node_a,
        b.record_id as node_b
    from deterministic_edges as edges
    inner join records as a on edges.record_key_a = a.record_key
    inner join records as b on edges.record_key_b = b.record_key
),

{{ identity_label_propagation('strong_edges', var('identity_label_propagation_passes'), 'strong') }},

clustered as (
    select
        records.record_id,
        records.record_key,
        records.date_of_birth,
        coalesce(strong_labels.component_id, records.record_id) as strong_cluster_id,
        coalesce(strong_labels.is_converged, true) as is_converged
    from records
    left join strong_labels on records.record_id = strong_labels.node_id
),

cluster_dob as (
    -- The cluster's date of birth: the one most of its records state (ties: the earliest). A scored
    -- edge may only join clusters whose dates agree (see int_identity__clusters).
    select
        strong_cluster_id,
        date_of_birth as cluster_date_of_birth
    from (
        select
            strong_cluster_id,
            date_of_birth,
            count(*) as records
        from clustered
        where date_of_birth is not null
        group by strong_cluster_id, date_of_birth
    ) as dates_of_birth
    qualify row_number() over (partition by strong_cluster_id order by records desc, date_of_birth asc) = 1
),

final as (
    select
        clustered.record_id,
        clustered.record_key,
        clustered.strong_cluster_id,
        cluster_dob.cluster_date_of_birth,
        count(*) over (partition by clustered.strong_cluster_id) as strong_cluster_size,
        clustered.is_converged
    from clustered
    left join cluster_dob on clustered.strong_cluster_id = cluster_dob.strong_cluster_id
)

select * from final
