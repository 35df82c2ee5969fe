{%- set stored_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}
{#- What an edge depends on besides its two records and their identifiers: this file, the comparison macros and the
    engine (macro identity_logic_fingerprint). A build under other logic pairs every value again. -#}
{%- set edges_logic_fingerprint = customer360.identity_logic_fingerprint(
    model.raw_code ~ identity_names_compatible('a', 'b')
    ~ identity_dates_within_a_slip('a.date_of_birth', 'b.date_of_birth')
) %}
{%- set is_kept_run = is_incremental() and 'edge_logic_fingerprint' in stored_columns %}
{%- set build_started_at = "cast('" ~ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") ~ "' as "
    ~ dbt.type_timestamp() ~ ")" %}

with

all_identifiers as (
    select
        record_key,
        identifier_type,
        identifier_value,
        is_usable,
        changed_at
    from {{ ref('int_identity__identifiers') }}
),

records as (
    select * from {{ ref('int_identity__source_records') }}
),

usable_identifiers as (
    select * from all_identifiers
    where is_usable
),

{% if is_kept_run -%}
    record_states as (
        -- what an edge reads of a record: its summary row, named by the fingerprints it is written under
        select
            record_key,
            hash(observations_fingerprint, summary_logic_fingerprint) as record_state
        from records
    ),

    stored_edges as (
        select
            identifier_type,
            identifier_value,
            record_key_a,
            record_key_b,
            record_state_a,
            record_state_b
        from {{ this }}
    ),

    last_build as (
        -- the values int_identity__identifiers wrote since this table's last rows were written are paired again.
        -- Every value is, under other logic, and when a stored stamp is after this build's start: the clock went
        -- back (another host, a copied warehouse), and "since" means nothing
        select
            max(built_at) as built_at,
            max(built_at) is null
            or max(built_at) > {{ build_started_at }}
            or coalesce(not bool_and(edge_logic_fingerprint = {{ edges_logic_fingerprint }}), false)
            or coalesce((select max(all_identifiers.changed_at) from all_identifiers) > {{ build_started_at }}, false)
                as is_redo_all
        from {{ this }}
    ),

    written_records as (
        -- the records int_identity__identifiers wrote rows of since then
        select distinct all_identifiers.record_key
        from all_identifiers
        cross join last_build
        where all_identifiers.changed_at is null or all_identifiers.changed_at > last_build.built_at
    ),

    stored_ends as (
        select
            record_key_a as record_key,
            record_state_a as record_state,
            identifier_type,
            identifier_value
        from stored_edges
        union all
        select
            record_key_b as record_key,
            record_state_b as record_state,
            identifier_type,
            identifier_value
        from stored_edges
    ),

    touched_values as (
        {%- if customer360.is_empty_run() %}
            -- dbt's --empty reads no rows: nothing is known to have moved, every stored edge stays
            select
                identifier_type,
                identifier_value
            from stored_edges
            where false
        {%- else %}
            -- values written since the last build (a record gained or lost one, its count or guard moved)
            select
                all_identifiers.identifier_type,
                all_identifiers.identifier_value
            from all_identifiers
            cross join last_build
            where
                last_build.is_redo_all
                or all_identifiers.changed_at is null
                or all_identifiers.changed_at > last_build.built_at
            union
            -- the values of stored edges whose record moved (names, date of birth, emails) or left
            select
                stored_ends.identifier_type,
                stored_ends.identifier_value
            from stored_ends
            left join record_states on stored_ends.record_key = record_states.record_key
            cross join last_build
            where
                record_states.record_state is distinct from stored_ends.record_state
                or last_build.is_redo_all
            union
            -- the values of stored edges a record whose identifiers were written since no longer holds: a value both
            -- its holders lost (a HubSpot merge undone) has no identifier row left to say so
            select
                stored_ends.identifier_type,
                stored_ends.identifier_value
            from stored_ends
            inner join written_records on stored_ends.record_key = written_records.record_key
            left join all_identifiers
                on
                    stored_ends.record_key = all_identifiers.record_key
                    and stored_ends.identifier_type = all_identifiers.identifier_type
                    and stored_ends.identifier_value = all_identifiers.identifier_value
            where all_identifiers.record_key is null
        {%- endif %}
    ),

    identifiers as (
        select usable_identifiers.*
        from usable_identifiers
        inner join touched_values
            on
                usable_identifiers.identifier_type = touched_values.identifier_type
                and usable_identifiers.identifier_value = touched_values.identifier_value
    ),
{%- elif is_incremental() %}
    touched_values as (
        -- a table from before the states existed: every value is paired again
        select
            identifier_type,
            identifier_value
        from all_identifiers
        union
        select
            identifier_type,
            identifier_value
        from {{ this }}
    ),

    identifiers as (
        select * from usable_identifiers
    ),
{%- else %}
    identifiers as (
        select * from usable_identifiers
    ),
{%- endif %}

shared_pairs as (
    select
        a.record_key as record_key_a,
        b.record_key as record_key_b,
        a.identifier_type,
        a.identifier_value
    from identifiers as a
    inner join identifiers as b
        on
            a.identifier_type = b.identifier_type
            and a.identifier_value = b.identifier_value
            and a.record_key < b.record_key
),

compared as (
    select
        shared_pairs.*,
        case shared_pairs.identifier_type
            when 'shopify_customer' then 'shopify_customer_id'
            when 'shopify_order' then 'shopify_order_id'
            when 'hubspot_contact' then 'hubspot_merge'
            when 'email' then 'email_exact'
            when 'phone' then 'phone_exact_and_name'
        end as match_rule,
        shared_pairs.identifier_type in ('shopify_customer', 'shopify_order', 'hubspot_contact') as is_source_link,
        a.first_name_key is not null and b.first_name_key is not null
        and {{ identity_names_compatible('a', 'b') }} as names_agree,
        a.email_match_key is not null and b.email_match_key is not null
        and not a.is_role_email and not b.is_role_email
        and a.email_match_key <> b.email_match_key as emails_differ,
        a.date_of_birth is not null and b.date_of_birth is not null
        and a.date_of_birth <> b.date_of_birth
        and not {{ identity_dates_within_a_slip('a.date_of_birth', 'b.date_of_birth') }} as dob_conflict,
        hash(a.observations_fingerprint, a.summary_logic_fingerprint) as record_state_a,
        hash(b.observations_fingerprint, b.summary_logic_fingerprint) as record_state_b
    from shared_pairs
    inner join records as a on shared_pairs.record_key_a = a.record_key
    inner join records as b on shared_pairs.record_key_b = b.record_key
),

judged as (
    select
        *,
        case
            when is_source_link then null
            when dob_conflict then 'dob_conflict'
            when identifier_type = 'phone' and not names_agree then 'names_differ'
            when identifier_type = 'phone' and emails_differ then 'emails_differ'
        end as veto_reason
    from compared
),

edges as (
    select
        record_key_a,
        record_key_b,
        match_rule,
        identifier_type,
        identifier_value,
        identifier_type || ' ' || identifier_value as evidence,
        veto_reason,
        veto_reason is null as is_strong,
        -- Deterministic edges are certain by rule; 1.0 lets them sort above any scored edge.
        cast(1.0 as double) as match_score,
        -- the two records' states when the edge was made: a record that moves has its values paired again
        record_state_a,
        record_state_b,
        {{ edges_logic_fingerprint }} as edge_logic_fingerprint,
        {{ build_started_at }} as built_at
    from judged
),

final as (
    select * from edges
    {%- if is_incremental() %}
        union all
        -- one marker per touched value (no records): the strategy deletes the value's stored edges; markers never land
        select
            null as record_key_a,
            null as record_key_b,
            null as match_rule,
            identifier_type,
            identifier_value,
            identifier_type || ' ' || identifier_value as evidence,
            null as veto_reason,
            null as is_strong,
            null as match_score,
            null as record_state_a,
            null as record_state_b,
            null as edge_logic_fingerprint,
            null as built_at
        from touched_values
    {%- endif %}
)

select * from final
