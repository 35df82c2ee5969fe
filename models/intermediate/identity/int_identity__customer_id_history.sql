{%- set legacy = namespace(relation=none) -%}
{#- On the first build after the move, adopt the table of the former mart customer_id_history (see the YAML). -#}
{%- if execute and not is_incremental() -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'customer_id_history' -%}
        {%- set found = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if found is not none and found.is_table -%}
            {%- set legacy.relation = found -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{#- A build assigns ids only in the clusters int_identity__clusters wrote since the last assignment (their rows carry
    when), when the clusters table says so (a table from before the stamp: every cluster). -#}
{%- set build_started_at = "cast('" ~ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") ~ "' as timestamp)" %}
{%- set clusters_written_at = is_incremental() and 'clustered_at' in (
    adapter.get_columns_in_relation(ref('int_identity__clusters')) | map(attribute='name') | list
) %}

with

cluster_members as (
    select
        record_key,
        cluster_id,
        {%- if clusters_written_at %}
            clustered_at
        {%- else %}
            cast(null as timestamp) as clustered_at
        {%- endif %}
    from {{ ref('int_identity__clusters') }}
),

source_records as (
    select
        record_key,
        source_system,
        source_record_id,
        source_created_at
    from {{ ref('int_identity__source_records') }}
),

adopted as (
    -- The history adopted from the public mart on the first build after the move; none otherwise.
    select
        record_key,
        source_system,
        source_record_id,
        customer_id,
        previous_customer_id,
        change_reason,
        anchor_record_key,
        anchor_created_at,
        assigned_at,
        history_seq,
        invocation_id
    {% if legacy.relation is not none %}
        from {{ legacy.relation }}
    {% else %}
        from (
            select
                cast(null as varchar) as record_key,
                cast(null as varchar) as source_system,
                cast(null as varchar) as source_record_id,
                cast(null as varchar) as customer_id,
                cast(null as varchar) as previous_customer_id,
                cast(null as varchar) as change_reason,
                cast(null as varchar) as anchor_record_key,
                cast(null as timestamp) as anchor_created_at,
                cast(null as timestamp) as assigned_at,
                cast(null as bigint) as history_seq,
                cast(null as varchar) as invocation_id
        ) as no_state
        where false
    {% endif %}
),

history as (
    -- The ids assigned by earlier builds.
    select
        record_key,
        customer_id,
        anchor_record_key,
        anchor_created_at,
        assigned_at,
        history_seq
    {% if is_incremental() %}
        from {{ this }}
    {% else %}
        from adopted
    {% endif %}
),

{% if is_incremental() %}
    last_assignment as (
        -- every cluster is assigned when a stored stamp is after this build's start: the clock went back (another
        -- host, a copied warehouse), and "since" means nothing
        select
            max(assigned_at) as assigned_at,
            max(assigned_at) is null
            or max(assigned_at) > {{ build_started_at }}
            or coalesce((select max(cluster_members.clustered_at) from cluster_members) > {{ build_started_at }}, false)
                as is_assigning_all
        from history
    ),

    clusters_to_assign as (
        -- The clusters written since the last assignment. Every other cluster keeps its records and its id: all of
        -- them hold it (a build gives every record of a cluster the cluster's id), and no record of a written
        -- cluster holds it (that record's old cluster, a linked component clustered again whole, was written too).
        select distinct cluster_members.cluster_id
        from cluster_members
        cross join last_assignment
        where
            last_assignment.is_assigning_all
            or cluster_members.clustered_at is null
            or cluster_members.clustered_at > last_assignment.assigned_at
    ),
{% endif %}

clusters as (
    select
        cluster_members.record_key,
        cluster_members.cluster_id,
        source_records.source_system,
        source_records.source_record_id,
        source_records.source_created_at
    from cluster_members
    inner join source_records on cluster_members.record_key = source_records.record_key
    {%- if is_incremental() %}
        inner join clusters_to_assign on cluster_members.cluster_id = clusters_to_assign.cluster_id
    {%- endif %}
),

previous as (
    -- Each record's id before this build (the records of the clusters to assign).
    select
        history.record_key,
        history.customer_id
    from history
    inner join clusters on history.record_key = clusters.record_key
    qualify row_number() over (
        partition by history.record_key order by history.assigned_at desc, history.history_seq desc
    ) = 1
),

known_ids as (
    -- the ids those records held, over their whole history
    select
        customer_id,
        min(assigned_at) as first_assigned_at,
        any_value(anchor_record_key) filter (where anchor_record_key is not null) as anchor_record_key,
        min(anchor_created_at) as anchor_created_at
    from history
    where customer_id in (select previous.customer_id from previous)
    group by customer_id
),

anchors as (
    select
        cluster_id,
        arg_min(record_key, { 'created': source_created_at, 'key': record_key }) as anchor_record_key,
        min(source_created_at) as anchor_created_at
    from clusters
    group by cluster_id
),

minted_per_anchor as (
    select
        anchor_record_key,
        count(distinct customer_id) as ids_minted
    from history
    where anchor_record_key in (select anchors.anchor_record_key from anchors)
    group by anchor_record_key
),

claims as (
    select
        clusters.cluster_id,
        previous.customer_id,
        count(*) as records_claiming,
        bool_or(clusters.record_key = known_ids.anchor_record_key) as holds_anchor
    from clusters
    inner join previous on clusters.record_key = previous.record_key
    inner join known_ids on previous.customer_id = known_ids.customer_id
    group by clusters.cluster_id, previous.customer_id
),

owned as (
    -- Each previous id goes to exactly one cluster.
    select
        cluster_id,
        customer_id
    from claims
    qualify row_number() over (
        partition by customer_id order by holds_anchor desc, records_claiming desc, cluster_id asc
    ) = 1
),

survivors as (
    -- The oldest id a cluster owns: first assigned earliest; among ids first assigned in the same build,
    -- the one whose anchor record was created first (the customer that existed first).
    select
        owned.cluster_id,
        owned.customer_id
    from owned
    inner join known_ids on owned.customer_id = known_ids.customer_id
    qualify row_number() over (
        partition by owned.cluster_id
        order by known_ids.first_assigned_at, known_ids.anchor_created_at nulls last, owned.customer_id
    ) = 1
),

minted as (
    select
        anchors.cluster_id,
        anchors.anchor_record_key,
        anchors.anchor_created_at,
        'cus_' || left(
            md5(
                anchors.anchor_record_key
                || case
                    when coalesce(minted_per_anchor.ids_minted, 0) > 0
                        then '#' || minted_per_anchor.ids_minted
                    else ''
                end
            ),
            16
        ) as customer_id
    from anchors
    left join survivors on anchors.cluster_id = survivors.cluster_id
    left join minted_per_anchor on anchors.anchor_record_key = minted_per_anchor.anchor_record_key
    where survivors.cluster_id is null
),

assigned as (
    select
        clusters.record_key,
        clusters.source_system,
        clusters.source_record_id,
        coalesce(survivors.customer_id, minted.customer_id) as customer_id,
        minted.anchor_record_key,
        minted.anchor_created_at,
        previous.customer_id as previous_customer_id,
        case
            when previous.customer_id is null and minted.customer_id is not null then 'new_customer'
            when previous.customer_id is null then 'joined_customer'
            when previous.customer_id = coalesce(survivors.customer_id, minted.customer_id) then null
            when owned.cluster_id = clusters.cluster_id then 'merge'
            when minted.customer_id is not null then 'split'
            else 'reassigned'
        end as change_reason
    from clusters
    left join survivors on clusters.cluster_id = survivors.cluster_id
    left join minted on clusters.cluster_id = minted.cluster_id
    left join previous on clusters.record_key = previous.record_key
    left join owned on previous.customer_id = owned.customer_id
),

changes as (
    select
        record_key,
        source_system,
        source_record_id,
        customer_id,
        previous_customer_id,
        change_reason,
        -- Only a minted id names its anchor; set on every row that carries a freshly minted id.
        anchor_record_key,
        anchor_created_at,
        -- The build's start time, the same in every model of one build.
        {{ build_started_at }} as assigned_at,
        -- Orders rows of one build; with assigned_at it finds a record's latest row.
        row_number() over (order by record_key)
        + coalesce((select max(history.history_seq) from history), 0) as history_seq,
        '{{ invocation_id }}' as invocation_id
    from assigned
    where change_reason is not null
),

final as (
    select * from adopted
    union all
    select * from changes
)

select * from final
