{#
    The suppression guard's evidence from the raw rows that hold most of it and cost most to read: Segment email
    events (the address fields inside their JSON), CSV drop rows with a consent value (their dates, read in every
    format), Shopify customers and orders, and the consent snapshot's history. Shared by the table of what the last
    build read (`int_engagement__suppression_evidence_at_build`) and the live view
    (`int_engagement__suppression_evidence`), so both read a row the same way.

    A raw row's identity is its table, its key (Segment: messageId; a drop: file and line; Shopify: id) and its
    dlt load id. dlt never changes a row in place: a reload deletes the row and inserts it again under the new
    load id. A snapshot row's identity is its dbt_scd_id (load `snapshot`): dbt only closes a version (its
    dbt_valid_to, which the evidence does not read) or adds one.

    scope:
      'all'          every raw row (the view when var consent_guard_reuse_build_evidence is false)
      'at_build'     rows of loads dlt had recorded as complete (`_dlt_loads`, status 0) whose every row has
                     an identity: what the table keeps; a load still landing is left to the view
      'at_build_new' the table's incremental run: 'at_build' rows of the loads (the snapshot's versions) it holds
                     no reading of yet (`covered` and `at_build` as for 'since_build')
      'since_build'  every other row: loads the table holds no evidence of (still landing when it was built,
                     loaded since, or with no evidence at all). `covered` is then the table's loads
                     (macro suppression_evidence_covered_loads) and `at_build` its relation (the snapshot's
                     versions it has no row of are read live).

    Emits CTEs (all named guard_rows_*) ending in `guard_rows_evidence`: raw_table, raw_row_key, raw_load_id,
    evidence_origin, source_system, source_record_id, email_raw, evidence_kind, evidence_at.
#}
{% macro suppression_evidence_row_ctes(scope, covered=none, at_build=none) %}
{%- if scope not in ('all', 'at_build', 'since_build', 'at_build_new')
    or (scope in ('since_build', 'at_build_new') and (covered is none or at_build is none)) -%}
    {{ exceptions.raise_compiler_error("suppression_evidence_row_ctes: unknown scope " ~ scope) }}
{%- endif -%}
{%- set opt_out_events = var('consent_guard_segment_opt_out_events') | map('lower') | list -%}
{%- set undeliverable_events = var('consent_guard_segment_undeliverable_events') | map('lower') | list -%}
{%- set address_pattern = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}' -%}
{%- set events = customer360.source_if_loaded('segment', 'events') -%}
{%- set segment_key = 'message_id' -%}

guard_rows_segment_events as (
    select
        {{ segment_key }} as raw_row_key,
        _dlt_load_id as raw_load_id,
        'segment' as source_system,
        case
            when
                nullif(trim(anonymous_id), '') is not null
                then {{ dbt.concat(["'anonymous:'", 'trim(anonymous_id)']) }}
            when nullif(trim(user_id), '') is not null then {{ dbt.concat(["'user:'", 'trim(user_id)']) }}
        end as source_record_id,
        -- every field that may hold the address, as one text: each address found in it counts (read as the guard
        -- reads text in the next step: guard_readable_text names its text more than once)
        {{ dbt.concat([
            "coalesce(" ~ customer360.json_text('properties', 'email_address') ~ ", '')", "' '",
            "coalesce(" ~ customer360.json_text('properties', 'email') ~ ", '')", "' '",
            "coalesce(" ~ customer360.json_text('traits', 'email') ~ ", '')", "' '",
            "coalesce(" ~ customer360.json_text('context', 'traits.email') ~ ", '')"
        ]) }} as address_fields,
        lower(trim(event)) as event_name,
        {{ customer360.to_utc_timestamp('"timestamp"') }} as event_at,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from {{ events }}
    where
        lower(trim(event)) in (
            {%- for event_name in opt_out_events + undeliverable_events %}
                '{{ event_name }}'{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
        and {{ customer360.suppression_evidence_row_scope(
            scope, source('segment', 'events'), 'segment.events', segment_key, covered) }}
),

guard_rows_segment_addresses as (
    select
        events.raw_row_key,
        events.raw_load_id,
        events.source_system,
        events.source_record_id,
        events.event_name,
        events.event_at,
        events.loaded_at,
        addresses.email_raw
    from guard_rows_segment_events as events
    cross join
        {{ customer360.regex_extract_all_rows(customer360.guard_readable_text('events.address_fields'), address_pattern) }}
        as addresses (email_raw)
    union all
    -- the record's own evidence, address or not (it reaches the customer through the identity map)
    select
        raw_row_key,
        raw_load_id,
        source_system,
        source_record_id,
        event_name,
        event_at,
        loaded_at,
        cast(null as {{ dbt.type_string() }}) as email_raw
    from guard_rows_segment_events
    where source_record_id is not null
),

guard_rows_csv_drop_rows as (
    -- every CSV drop in raw_csv_contacts, found when the model is built (macro csv_contact_drop_relations)
    {%- for drop in customer360.csv_contact_drop_relations() %}
        {%- set drop_key = dbt.concat(['_source_file', "':'", 'cast(_row_number as ' ~ dbt.type_string() ~ ')']) %}
        select
            'csv_contacts.{{ drop.identifier }}' as raw_table,
            {{ drop_key }} as raw_row_key,
            _dlt_load_id as raw_load_id,
            '{{ drop.identifier }}' as source_system,
            contact_id,
            email,
            email_consent,
            email_consent_updated_at,
            updated_at
        from {{ drop }}
        where
            nullif(trim(email_consent), '') is not null
            and {{ customer360.suppression_evidence_row_scope(
                scope, drop, 'csv_contacts.' ~ drop.identifier, drop_key, covered) }}
        union all
    {%- endfor %}
    select
        cast(null as {{ dbt.type_string() }}) as raw_table,
        cast(null as {{ dbt.type_string() }}) as raw_row_key,
        cast(null as {{ dbt.type_string() }}) as raw_load_id,
        cast(null as {{ dbt.type_string() }}) as source_system,
        cast(null as {{ dbt.type_string() }}) as contact_id,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as email_consent,
        cast(null as {{ dbt.type_string() }}) as email_consent_updated_at,
        cast(null as {{ dbt.type_string() }}) as updated_at
    where false
),

{%- set shopify_customers = customer360.source_if_loaded('shopify', 'customers') %}
{%- set shopify_orders = customer360.source_if_loaded('shopify', 'orders') %}
{%- set shopify_key = 'cast(id as ' ~ dbt.type_string() ~ ')' %}
guard_rows_shopify_customers as (
    select
        {{ shopify_key }} as raw_row_key,
        _dlt_load_id as raw_load_id,
        'shopify' as source_system,
        {{ dbt.concat(["'customer:'", 'cast(id as ' ~ dbt.type_string() ~ ')']) }} as source_record_id,
        email as email_raw,
        lower(trim(cast(email_marketing_consent__state as {{ dbt.type_string() }}))) as consent_raw,
        {{ customer360.to_utc_timestamp('email_marketing_consent__consent_updated_at') }} as consent_at,
        {{ customer360.to_utc_timestamp('updated_at') }} as record_at,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from {{ shopify_customers }}
    where {{ customer360.suppression_evidence_row_scope(
        scope, source('shopify', 'customers'), 'shopify.customers', shopify_key, covered) }}
),

guard_rows_shopify_orders as (
    select
        {{ shopify_key }} as raw_row_key,
        _dlt_load_id as raw_load_id,
        'shopify' as source_system,
        case
            when customer__id is null then {{ dbt.concat(["'order:'", 'cast(id as ' ~ dbt.type_string() ~ ')']) }}
            else {{ dbt.concat(["'customer:'", 'cast(customer__id as ' ~ dbt.type_string() ~ ')']) }}
        end as source_record_id,
        coalesce(email, customer__email) as email_raw,
        {{ customer360.to_utc_timestamp('created_at') }} as ordered_at,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from {{ shopify_orders }}
    where
        buyer_accepts_marketing
        and {{ customer360.suppression_evidence_row_scope(
            scope, source('shopify', 'orders'), 'shopify.orders', shopify_key, covered) }}
),

guard_rows_consent_history as (
    select
        dbt_scd_id as raw_row_key,
        'snapshot' as raw_load_id,
        source_system,
        source_record_id,
        email as email_raw,
        consent_state,
        consent_updated_at as consent_at,
        record_updated_at as record_at,
        dbt_valid_from,
        coalesce(loaded_at, dbt_valid_from) as loaded_at
    from {{ ref('email_consent_snapshot') }} as history
    where
        {%- if scope == 'at_build' %}
            dbt_scd_id is not null
        {%- elif scope in ('at_build_new', 'since_build') %}
            -- versions the table has no row of (yet, or a snapshot taken since without the table)
            {{ 'dbt_scd_id is not null and' if scope == 'at_build_new' else 'dbt_scd_id is null or' }}
            not exists (
                select 1
                from {{ at_build }} as at_build
                where
                    at_build.raw_table = 'snapshots.email_consent_snapshot'
                    and at_build.raw_row_key = history.dbt_scd_id
            )
        {%- else %}
            true
        {%- endif %}
),

guard_rows_consent_values as (
    select
        source_system,
        source_value,
        consent_state
    from {{ ref('enum_email_consent_states') }}
),

guard_rows_implied_defaults as (
    select
        source_system,
        consent_state
    from {{ ref('consent_signal_rules') }}
    where not is_explicit
),

guard_rows_csv_consent_states as (
    -- the drop's seed entries map its values (enum_email_consent_states); any other value is read as
    -- an opt-out
    select
        csv_row.*,
        case
            when consent_values.consent_state is not null then consent_values.consent_state
            when nullif(trim(csv_row.email_consent), '') is not null then 'opted_out'
        end as consent_state
    from guard_rows_csv_drop_rows as csv_row
    left join guard_rows_consent_values as consent_values
        on
            csv_row.source_system = consent_values.source_system
            and lower(trim(csv_row.email_consent)) = consent_values.source_value
),

guard_rows_csv_consent_texts as (
    -- An opt-in's time counts only when exactly one format of var csv_datetime_formats reads it; an opt-out
    -- or a bounce is dated at the latest reading of any format (03/05/2025: May 3; guard_plausible_readings).
    -- Each text is read only for the rows that use that reading (the evidence below: consent_at for
    -- opt-ins, the readings for the rest): thirteen formats, twice over, on every row were the largest
    -- step of the view at 1M people (one evaluation 12.9 s, now 11.0).
    select
        csv_row.*,
        case when csv_row.consent_state = 'opted_in' then csv_row.email_consent_updated_at end as opt_in_consent_text,
        case when csv_row.consent_state <> 'opted_in' then csv_row.email_consent_updated_at end as other_consent_text,
        case when csv_row.consent_state <> 'opted_in' then csv_row.updated_at end as other_record_text,
        {{ customer360.load_id_to_timestamp('csv_row.raw_load_id') }} as loaded_at
    from guard_rows_csv_consent_states as csv_row
),

guard_rows_csv_consent_readings as (
    -- each text read by every format once, in a step of its own: the steps below name the readings instead
    -- of writing each format's parse again wherever a reading is compared
    select
        csv_texts.*,
        {{ customer360.guard_timestamp_readings('csv_texts.opt_in_consent_text', 'opt_in_read') }},
        {{ customer360.guard_timestamp_readings('csv_texts.other_consent_text', 'consent_read') }},
        {{ customer360.guard_timestamp_readings('csv_texts.other_record_text', 'record_read') }}
    from guard_rows_csv_consent_texts as csv_texts
),

guard_rows_csv_consent_rows as (
    select
        csv_read.raw_table,
        csv_read.raw_row_key,
        csv_read.raw_load_id,
        csv_read.source_system,
        nullif(trim(csv_read.contact_id), '') as source_record_id,
        csv_read.email as email_raw,
        csv_read.consent_state,
        {{ customer360.guard_unambiguous_reading('csv_read', 'opt_in_read') }} as consent_at,
        {{ customer360.guard_plausible_readings('csv_read', 'consent_read', 'csv_read.loaded_at', 'consent_reading') }},
        nullif(trim(csv_read.email_consent_updated_at), '') is not null as consent_text_is_written,
        {{ customer360.guard_plausible_readings('csv_read', 'record_read', 'csv_read.loaded_at', 'record_reading') }},
        csv_read.loaded_at
    from guard_rows_csv_consent_readings as csv_read
),

guard_rows_csv_consent_dated as (
    -- an opt-out or bounce is dated by its consent time when one was written, else by the record's time:
    -- the latest and earliest day that text can mean (guard_timestamp_readings); two that differ, or none,
    -- make the date uncertain
    select
        csv_consent_rows.*,
        case
            when csv_consent_rows.consent_text_is_written
                then {{ customer360.guard_latest_reading('csv_consent_rows', 'consent_reading') }}
            else {{ customer360.guard_latest_reading('csv_consent_rows', 'record_reading') }}
        end as dating_latest_at,
        case
            when csv_consent_rows.consent_text_is_written
                then {{ customer360.guard_latest_reading('csv_consent_rows', 'consent_reading', 'least') }}
            else {{ customer360.guard_latest_reading('csv_consent_rows', 'record_reading', 'least') }}
        end as dating_earliest_at
    from guard_rows_csv_consent_rows as csv_consent_rows
),

guard_rows_evidence as (
    select
        'shopify.customers' as raw_table,
        raw_row_key,
        raw_load_id,
        'shopify_customer' as evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        case when consent_raw = 'invalid' then 'undeliverable' else 'opt_out' end as evidence_kind,
        -- a written consent time that is not plausible is dated at the load, never at the account's
        -- earlier update time (an opt-in between the two could otherwise lift the opt-out); both move on
        -- with every edit and reload, and the guard keeps the later reading (the ledger: the first capture)
        case
            -- (or the account's update, when the clock skew puts it a few minutes after the load)
            when consent_at is not null
                then coalesce(
                    {{ customer360.guard_plausible_timestamp('consent_at', 'loaded_at') }},
                    greatest(
                        loaded_at,
                        coalesce({{ customer360.guard_plausible_timestamp('record_at', 'loaded_at') }}, loaded_at)
                    )
                )
            else coalesce({{ customer360.guard_plausible_timestamp('record_at', 'loaded_at') }}, loaded_at)
        end as evidence_at
    from guard_rows_shopify_customers
    -- anything but a known consenting or neutral state is read as an opt-out (unsubscribed, redacted, new states)
    where consent_raw is not null and consent_raw not in ('', 'subscribed', 'not_subscribed', 'pending')

    union all

    select
        'shopify.customers' as raw_table,
        raw_row_key,
        raw_load_id,
        'shopify_customer' as evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        'valid_opt_in' as evidence_kind,
        {{ customer360.guard_plausible_timestamp('consent_at', 'loaded_at') }} as evidence_at
    from guard_rows_shopify_customers
    where
        consent_raw = 'subscribed'
        and {{ customer360.guard_plausible_timestamp('consent_at', 'loaded_at') }} is not null

    union all

    select
        'shopify.orders' as raw_table,
        raw_row_key,
        raw_load_id,
        'shopify_order' as evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        'valid_opt_in' as evidence_kind,
        {{ customer360.guard_plausible_timestamp('ordered_at', 'loaded_at') }} as evidence_at
    from guard_rows_shopify_orders
    where {{ customer360.guard_plausible_timestamp('ordered_at', 'loaded_at') }} is not null

    union all

    select
        'snapshots.email_consent_snapshot' as raw_table,
        history.raw_row_key,
        history.raw_load_id,
        'consent_history' as evidence_origin,
        history.source_system,
        history.source_record_id,
        history.email_raw,
        {{ customer360.guard_evidence_kind('history.consent_state') }} as evidence_kind,
        case
            when
                history.consent_state = 'opted_in'
                then {{ customer360.guard_plausible_timestamp('history.consent_at', 'history.loaded_at') }}
            -- as above: a written consent time that is not plausible dates at the snapshot's receipt
            when history.consent_at is not null
                then coalesce(
                    {{ customer360.guard_plausible_timestamp('history.consent_at', 'history.loaded_at') }},
                    history.dbt_valid_from
                )
            else coalesce(
                {{ customer360.guard_plausible_timestamp('history.record_at', 'history.loaded_at') }},
                history.dbt_valid_from
            )
        end as evidence_at
    from guard_rows_consent_history as history
    left join guard_rows_implied_defaults as implied_defaults
        on
            history.source_system = implied_defaults.source_system
            and history.consent_state = implied_defaults.consent_state
    where {{ customer360.guard_consent_state_is_evidence('history', 'implied_defaults') }}

    union all

    select
        'segment.events' as raw_table,
        raw_row_key,
        raw_load_id,
        'segment_event' as evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        case
            when event_name in ('{{ undeliverable_events | join("', '") }}') then 'undeliverable' else 'opt_out'
        end as evidence_kind,
        coalesce({{ customer360.guard_plausible_timestamp('event_at', 'loaded_at') }}, loaded_at) as evidence_at
    from guard_rows_segment_addresses

    union all

    select
        csv_row.raw_table,
        csv_row.raw_row_key,
        csv_row.raw_load_id,
        -- dated from a text several formats read differently, from a text no format reads, or with no
        -- text (at the load): the guard is stricter than the ledger there by design, and
        -- consent_ledger_agrees_with_guard leaves such evidence out
        case
            when csv_row.consent_state = 'opted_in' then 'csv_row'
            when csv_row.dating_latest_at = csv_row.dating_earliest_at then 'csv_row'
            else 'csv_row_uncertain_date'
        end as evidence_origin,
        csv_row.source_system,
        csv_row.source_record_id,
        csv_row.email_raw,
        {{ customer360.guard_evidence_kind('csv_row.consent_state') }} as evidence_kind,
        case
            when
                csv_row.consent_state = 'opted_in'
                then {{ customer360.guard_plausible_timestamp('csv_row.consent_at', 'csv_row.loaded_at') }}
            -- never by the record's (earlier) time when a consent time was written; at the load when no
            -- reading is left, or there is no text
            else coalesce(csv_row.dating_latest_at, csv_row.loaded_at)
        end as evidence_at
    from guard_rows_csv_consent_dated as csv_row
    left join guard_rows_implied_defaults as implied_defaults
        on
            csv_row.source_system = implied_defaults.source_system
            and csv_row.consent_state = implied_defaults.consent_state
    where {{ customer360.guard_consent_state_is_evidence('csv_row', 'implied_defaults') }}
)
{% endmacro %}


{#
    suppression_evidence_row_scope(scope, relation, raw_table, row_key, covered): the condition on a raw table's
    rows (`_dlt_load_id`, the row key expression) that puts them in the scope of suppression_evidence_row_ctes.
    Written so that null never narrows the live view: the table takes no load holding a row without a key, and
    a row without a load id is read live. 'since_build' lists the covered loads as constants on one column, so
    DuckDB skips their rows in the scan itself (as a subquery, or beside another column, it fetched every email
    event's JSON first: 3.2 s a read at 1M people).
#}
{% macro suppression_evidence_row_scope(scope, relation, raw_table, row_key, covered=none) -%}
    {%- if scope == 'all' -%}
        true
    {%- elif scope in ('at_build', 'at_build_new') -%}
        {%- set loads = none -%}
        {%- if execute and model.resource_type != 'unit_test' and customer360.relation_exists(relation) -%}
            {%- set loads = api.Relation.create(
                database=relation.database, schema=relation.schema, identifier='_dlt_loads'
            ) -%}
        {%- endif -%}
        {%- if loads is not none and customer360.relation_exists(loads) -%}
            ({{ row_key }}) is not null
            and _dlt_load_id in (
                select dlt_loads.load_id from {{ loads }} as dlt_loads
                where dlt_loads.status = 0 and dlt_loads.load_id is not null
            )
            -- a load with a row the table cannot key (the loaders never write one) is left to the view whole,
            -- so the view's test on the load alone reads that row too
            and _dlt_load_id not in (
                select keyless._dlt_load_id from {{ relation }} as keyless
                where keyless._dlt_load_id is not null and ({{ row_key }}) is null
            )
            {%- if scope == 'at_build_new' and covered.get(raw_table) %}
                -- the table's incremental run: only loads it holds no reading of yet
                and _dlt_load_id not in ({{ customer360.sql_text_list(covered[raw_table]) }})
            {%- endif %}
        {%- else -%}
            false
        {%- endif -%}
    {%- elif covered.get(raw_table) -%}
        -- one column, constants: DuckDB applies it in the scan (a row without a load id is read live)
        coalesce(_dlt_load_id, '') not in ({{ customer360.sql_text_list(covered[raw_table]) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#
    suppression_evidence_covered_loads(at_build): {raw_table: [load ids]} of the loads the table holds evidence
    of, read when the view is compiled (right after the table, in a build). Safe if the table is rebuilt later
    without the view: a load once complete stays complete, so a newer table still holds the evidence of every
    row of these loads that is still there; a load it covers beyond the list is read live as well (the same rows
    twice, made one by the view's distinct).
#}
{% macro suppression_evidence_covered_loads(at_build) -%}
    {%- set covered = {} -%}
    {%- if execute and customer360.relation_exists(at_build) -%}
        {%- set loads -%}
            select distinct raw_table, raw_load_id
            from {{ at_build }}
            where raw_table is not null and raw_load_id is not null
            order by raw_table, raw_load_id
        {%- endset -%}
        {%- for row in run_query(loads).rows -%}
            {%- do covered.setdefault(row[0], []).append(row[1]) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(covered) }}
{%- endmacro %}


{#
    suppression_evidence_raw_tables(): the raw tables whose rows the table of the last build's reading stands for,
    each as {raw_table, relation, key (over alias raw_rows), by_load (the key holds together with the row's load
    id), rows (the condition a row of the reading meets)}: what the view checks is still there before it reuses a
    row, and what the table's own post-hook checks before it keeps one.
#}
{% macro suppression_evidence_raw_tables() -%}
    {%- set email_events = (var('consent_guard_segment_opt_out_events')
        + var('consent_guard_segment_undeliverable_events')) | map('lower') | list -%}
    {%- set tables = [
        {'raw_table': 'segment.events', 'relation': customer360.source_if_loaded('segment', 'events'),
            'key': 'raw_rows.message_id', 'by_load': true,
            'rows': "lower(trim(raw_rows.event)) in ('" ~ email_events | join("', '") ~ "')"},
        {'raw_table': 'shopify.customers', 'relation': customer360.source_if_loaded('shopify', 'customers'),
            'key': 'cast(raw_rows.id as ' ~ dbt.type_string() ~ ')', 'by_load': true, 'rows': 'true'},
        {'raw_table': 'shopify.orders', 'relation': customer360.source_if_loaded('shopify', 'orders'),
            'key': 'cast(raw_rows.id as ' ~ dbt.type_string() ~ ')', 'by_load': true,
            'rows': 'raw_rows.buyer_accepts_marketing'},
        {'raw_table': 'snapshots.email_consent_snapshot', 'relation': ref('email_consent_snapshot'),
            'key': 'raw_rows.dbt_scd_id', 'by_load': false, 'rows': 'true'}
    ] -%}
    {%- for drop in customer360.csv_contact_drop_relations() -%}
        {%- do tables.append({'raw_table': 'csv_contacts.' ~ drop.identifier, 'relation': drop, 'by_load': true,
            'key': dbt.concat(['raw_rows._source_file', "':'", 'cast(raw_rows._row_number as ' ~ dbt.type_string() ~ ')']),
            'rows': 'true'}) -%}
    {%- endfor -%}
    {{ return(tables) }}
{%- endmacro %}


{#
    suppression_evidence_raw_row_exists(table): whether the raw row of an evidence table row (alias at_build) is still
    there under its key (and load), for one entry of suppression_evidence_raw_tables(): the view reuses a row only
    then, and the table's post-hook deletes the others.
#}
{% macro suppression_evidence_raw_row_exists(table) -%}
    exists (
        select 1
        from {{ table.relation }} as raw_rows
        where
            {{ table.rows }}
            and {{ table.key }} = at_build.raw_row_key
            {%- if table.by_load %}
                and raw_rows._dlt_load_id = at_build.raw_load_id
            {%- endif %}
    )
{%- endmacro %}


{#
    suppression_evidence_at_build_prune(): the post-hook of int_engagement__suppression_evidence_at_build, an
    incremental table: rows read with other seeds, vars or code (the build read every raw row again) and rows whose
    raw row is gone (deleted, erased, reloaded under a new load id: the view would not reuse them) are deleted, so
    the table holds what a full rebuild would.
#}
{% macro suppression_evidence_at_build_prune() -%}
    {%- set tables = customer360.suppression_evidence_raw_tables() -%}
    {%- if customer360.is_empty_run() -%}
        {#- dbt's --empty reads no raw row: nothing is gone, and the stored rows stay -#}
        select 1
    {%- else -%}
    delete from {{ this }} as at_build
    where
        at_build.reading_fingerprint is distinct from {{ customer360.suppression_evidence_reading_fingerprint() }}
        or at_build.raw_table not in ({{ customer360.sql_text_list(tables | map(attribute='raw_table') | list) }})
        {%- for table in tables %}
            or (
                at_build.raw_table = '{{ table.raw_table }}'
                and not {{ customer360.suppression_evidence_raw_row_exists(table) }}
            )
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}


{# sql_text_list(values): 'a', 'b' ... as SQL text literals (quotes doubled). #}
{% macro sql_text_list(values) -%}
    {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}


{# suppression_evidence_reused_loads(covered, raw_table): the table's rows the view may reuse: of the loads listed. #}
{% macro suppression_evidence_reused_loads(covered, raw_table) -%}
    {%- if covered.get(raw_table) -%}
        at_build.raw_load_id in ({{ customer360.sql_text_list(covered[raw_table]) }})
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}


{#
    suppression_evidence_reading_fingerprint(): SQL giving one text that changes whenever the table's reading of
    an unchanged raw row could: the reading's SQL as compiled (vars, CSV drops, code: hashed at compile time) and
    the rows of every seed it reads (hashed when the query runs: a `dbt seed` alone changes them). The table
    stores it; the view compares it with its own and raises an error when they differ (a seed or var changed
    since the table was built), until a build reads again: neither a stale reading nor a silent full re-read.
#}
{% macro suppression_evidence_reading_fingerprint() -%}
    {#- the rows' SQL and the table's own steps on them (its addresses normalized and keyed) -#}
    {%- set reading_sql = customer360.suppression_evidence_row_ctes('at_build')
        ~ customer360.normalize_email('email_raw') ~ customer360.email_match_key('email') -%}
    {%- set seeds = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'seed') | sort(attribute='name') -%}
            {%- set relation = api.Relation.create(
                database=node.database, schema=node.schema, identifier=node.alias or node.name
            ) -%}
            {%- if (relation | string) in reading_sql and customer360.relation_exists(relation) -%}
                {%- do seeds.append(relation) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set parts = ["'" ~ local_md5(reading_sql) ~ "'"] -%}
    {%- for relation in seeds -%}
        {%- do parts.append(customer360.seed_rows_fingerprint(relation)) -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}


{# seed_rows_fingerprint(relation): a scalar subquery: a hash of every row of a (small) table, in a fixed order. #}
{% macro seed_rows_fingerprint(relation) -%}
    {%- set fields = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do fields.append("coalesce(cast(" ~ adapter.quote(column.name) ~ " as " ~ dbt.type_string() ~ "), '~')") -%}
        {%- do fields.append("';'") -%}
    {%- endfor -%}
    {%- set row_text = dbt.concat(fields) if fields else "''" -%}
    (
        select coalesce({{ dbt.hash(dbt.listagg(row_text, "'|'", 'order by ' ~ row_text)) }}, 'no rows')
        from {{ relation }}
    )
{%- endmacro %}



{# guard_evidence_kind(consent_state): the evidence a consent state is: opt_out, undeliverable or valid_opt_in. #}
{% macro guard_evidence_kind(consent_state) -%}
    case
        when {{ consent_state }} = 'opted_out' then 'opt_out'
        when {{ consent_state }} = 'invalid' then 'undeliverable'
        else 'valid_opt_in'
    end
{%- endmacro %}


{#
    guard_consent_state_is_evidence(row, implied): whether a row's consent state is evidence for the guard: an
    opt-out or invalid address always; an opt-in only when explicit (no implied default of its source, the
    left-joined `implied`) and carrying a plausible consent time of its own.
#}
{% macro guard_consent_state_is_evidence(row, implied) -%}
    (
        {{ row }}.consent_state in ('opted_out', 'invalid')
        or (
            {{ row }}.consent_state = 'opted_in'
            and {{ implied }}.consent_state is null
            and {{ customer360.guard_plausible_timestamp(row ~ '.consent_at', row ~ '.loaded_at') }} is not null
        )
    )
{%- endmacro %}
