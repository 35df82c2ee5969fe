{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{#- What a record's cluster depends on besides its strong neighbours and its date of birth: this file, the passes and
    the engine (macro identity_logic_fingerprint). Part of every record's state, so a change clusters every record
    again. -#}
{%- set has_states = 'record_state' in stored_columns %}
{%- set clustering_logic_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code ~ '|' ~ var('identity_label_propagation_passes')
    ~ identity_label_propagation('edges', var('identity_label_propagation_passes'), 'logic')
) %}

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

{% if is_incremental() -%}
    stored_clusters as (
        select
            record_id,
            strong_cluster_id,
            is_converged,
            {%- if 'record_state' in stored_columns %}
                record_state
            {%- else %}
                -- a table from before the states existed: every record is touched (below)
                null as record_state
            {%- endif %}
        from {{ this }}
    ),
{%- endif %}

strong_edges as (
    select
        a.record_id as node_a,
        b.record_id as node_b
    from deterministic_edges as edges
    inner join records as a on edges.record_key_a = a.record_key
    inner join records as b on edges.record_key_b = b.record_key
),

neighbour_fingerprints as (
    -- each record's strong neighbours, as one value
    select
        node_id,
        {{ customer360.identity_rows_fingerprint('hash(neighbour_id)') }} as fingerprint
    from (
        select
            node_a as node_id,
            node_b as neighbour_id
        from strong_edges
        union all
        select
            node_b as node_id,
            node_a as neighbour_id
        from strong_edges
    ) as ends
    group by node_id
),

record_states as (
    -- what a record's cluster row depends on: its strong neighbours, its date of birth, the logic. A record whose
    -- neighbours are the same stayed in the same cluster, unless another member moved
    select
        records.record_id,
        hash(
            neighbour_fingerprints.fingerprint, records.date_of_birth, {{ clustering_logic_fingerprint }}
        ) as record_state
    from records
    left join neighbour_fingerprints on records.record_id = neighbour_fingerprints.node_id
),

{% if is_incremental() %}
    moved as (
        -- records whose state moved since their row was stored, new records and records that left
        {{ customer360.identity_touched('record_states', 'stored_clusters', has_states) | indent(8) }}
    ),

    touched as (
        select moved.record_id from moved
        union
        -- a stored cluster that had not settled may be a part of its component only: every record is clustered again
        select record_states.record_id
        from record_states
        where exists (
            select 1 from stored_clusters
            where not stored_clusters.is_converged
        )
    ),

    affected as (
        -- the touched records and every member of the clusters they were in: only these clusters can change. A
        -- strong edge never leaves this set (an untouched end has the same neighbours, so it shared the cluster)
        {{ customer360.identity_stored_group_members('stored_clusters', 'strong_cluster_id', 'touched') | indent(8) }}
    ),

    affected_edges as (
        select strong_edges.*
        from strong_edges
        inner join affected on strong_edges.node_a = affected.record_id
    ),

    records_to_cluster as (
        select records.*
        from records
        inner join affected on records.record_id = affected.record_id
    ),
{% else %}
    affected_edges as (
        select * from strong_edges
    ),

    records_to_cluster as (
        select * from records
    ),
{% endif %}

{{ identity_label_propagation('affected_edges', var('identity_label_propagation_passes'), 'strong') }},

clustered as (
    select
        records_to_cluster.record_id,
        records_to_cluster.record_key,
        records_to_cluster.date_of_birth,
        coalesce(strong_labels.component_id, records_to_cluster.record_id) as strong_cluster_id,
        coalesce(strong_labels.is_converged, true) as is_converged
    from records_to_cluster
    left join strong_labels on records_to_cluster.record_id = strong_labels.node_id
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

clusters as (
    select
        clustered.record_id,
        clustered.record_key,
        clustered.strong_cluster_id,
        cluster_dob.cluster_date_of_birth,
        count(*) over (partition by clustered.strong_cluster_id) as strong_cluster_size,
        clustered.is_converged,
        record_states.record_state
    from clustered
    inner join record_states on clustered.record_id = record_states.record_id
    left join cluster_dob on clustered.strong_cluster_id = cluster_dob.strong_cluster_id
),

final as (
    select * from clusters
    {%- if is_incremental() %}
        union all
        -- one marker per affected record (no key): the strategy deletes its stored row; markers never land
        select
            record_id,
            null as record_key,
            null as strong_cluster_id,
            null as cluster_date_of_birth,
            null as strong_cluster_size,
            null as is_converged,
            null as record_state
        from affected
    {%- endif %}
)

select * from final
