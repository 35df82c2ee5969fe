{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{%- set is_kept_run = is_incremental() and 'record_state' in stored_columns %}
{#- What a record's cluster depends on besides its strong cluster and its accepted pairs: this file, the passes, the
    slip macro and the engine (macro identity_logic_fingerprint). Part of every record's state. -#}
{%- set grouping_logic_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code ~ '|' ~ var('identity_label_propagation_passes')
    ~ identity_dates_within_a_slip('a.date_of_birth', 'b.date_of_birth')
    ~ identity_label_propagation('edges', var('identity_label_propagation_passes'), 'logic')
) %}

with

all_strong as (
    select * from {{ ref('int_identity__strong_clusters') }}
),

all_accepted_pairs as (
    select
        record_id_a,
        record_id_b,
        match_probability
    from {{ ref('int_identity__scored_pairs') }}
    where decision = 'accept'
),

{% if is_incremental() -%}
    stored_clusters as (
        select
            record_id,
            is_converged,
            {%- if is_kept_run %}
                linked_component_id,
                record_state
            {%- else %}
                -- a table from before the states existed: every record is touched (below)
                null as linked_component_id,
                null as record_state
            {%- endif %}
        from {{ this }}
    ),
{%- endif %}

neighbour_fingerprints as (
    -- each record's accepted pairs, as one value
    select
        node_id,
        {{ customer360.identity_rows_fingerprint('hash(neighbour_id, match_probability)') }} as fingerprint
    from (
        select
            record_id_a as node_id,
            record_id_b as neighbour_id,
            match_probability
        from all_accepted_pairs
        union all
        select
            record_id_b as node_id,
            record_id_a as neighbour_id,
            match_probability
        from all_accepted_pairs
    ) as ends
    group by node_id
),

record_states as (
    -- what a record's cluster row depends on: its strong cluster (id, date, size), its accepted pairs, the logic
    select
        all_strong.record_id,
        hash(
            all_strong.strong_cluster_id,
            all_strong.cluster_date_of_birth,
            all_strong.strong_cluster_size,
            all_strong.is_converged,
            neighbour_fingerprints.fingerprint,
            {{ grouping_logic_fingerprint }}
        ) as record_state
    from all_strong
    left join neighbour_fingerprints on all_strong.record_id = neighbour_fingerprints.node_id
),

{% if is_incremental() %}
    moved as (
        -- records whose state moved since their row was stored, new records and records that left
        {{ customer360.identity_touched('record_states', 'stored_clusters', is_kept_run) | indent(8) }}
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

    seeds as (
        -- the touched records and the members of the strong clusters they are in now
        select record_id from touched
        union
        select mates.record_id
        from all_strong as mates
        inner join all_strong as touched_records on mates.strong_cluster_id = touched_records.strong_cluster_id
        inner join touched on touched_records.record_id = touched.record_id
    ),

    affected as (
        -- ... and every member of the linked components (strong clusters joined by any accepted pair) they were in:
        -- only these can change. No strong edge or accepted pair leaves this set (an untouched end has the same
        -- pairs and strong cluster, so it shared the component)
        {{ customer360.identity_stored_group_members('stored_clusters', 'linked_component_id', 'seeds') | indent(8) }}
    ),

    strong as (
        select all_strong.*
        from all_strong
        inner join affected on all_strong.record_id = affected.record_id
    ),

    accepted_pairs as (
        select all_accepted_pairs.*
        from all_accepted_pairs
        inner join affected on all_accepted_pairs.record_id_a = affected.record_id
    ),
{% else %}
    strong as (
        select * from all_strong
    ),

    accepted_pairs as (
        select * from all_accepted_pairs
    ),
{% endif %}

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

linked_edges as (
    -- every accepted pair between strong clusters, whatever the dates: the unit a build clusters again
    select
        cluster_a as node_a,
        cluster_b as node_b
    from typed
),

{{ identity_label_propagation('linked_edges', var('identity_label_propagation_passes'), 'linked') }},

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
        coalesce(linked_labels.component_id, grouped.strong_cluster_id) as linked_component_id,
        grouped.is_converged and coalesce(linked_labels.is_converged, true) as is_converged
    from grouped
    left join attachments on grouped.group_id = attachments.undated_group_id
    left join linked_labels on grouped.strong_cluster_id = linked_labels.node_id
),

clusters as (
    select
        strong.record_id,
        strong.record_key,
        strong.strong_cluster_id,
        final_groups.cluster_id,
        count(*) over (partition by final_groups.cluster_id) as cluster_size,
        strong.is_converged and final_groups.is_converged as is_converged,
        final_groups.linked_component_id,
        record_states.record_state,
        -- when the row was written: int_identity__customer_id_history assigns ids in the clusters written since
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as clustered_at
    from strong
    inner join final_groups on strong.strong_cluster_id = final_groups.strong_cluster_id
    inner join record_states on strong.record_id = record_states.record_id
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
            null as cluster_id,
            null as cluster_size,
            null as is_converged,
            null as linked_component_id,
            null as record_state,
            null as clustered_at
        from affected
    {%- endif %}
)

select * from final
