{%- set at_build_relation = ref('int_engagement__suppression_evidence_at_build') %}
{#- the last build's reading, the loads it covers, and the raw tables whose rows it may stand for (each with its
    key; by_load: the key holds together with the row's load id) -#}
{%- set covered = customer360.suppression_evidence_covered_loads(at_build_relation) %}
{%- set reusable = customer360.suppression_evidence_raw_tables() %}
{%- set email_events_pattern = '(?i)(' ~ (var('consent_guard_segment_opt_out_events')
    + var('consent_guard_segment_undeliverable_events')) | join('|') ~ ')' -%}
{%- set undeliverable_pattern = '(?i)(' ~ var('consent_guard_segment_undeliverable_events') | join('|') ~ ')' -%}
{%- set address_pattern = '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}' -%}


with

hubspot_contacts as (
    select
        'hubspot' as source_system,
        cast(id as {{ dbt.type_string() }}) as source_record_id,
        properties__email as email_raw,
        lower(trim(cast(properties__hs_email_optout as {{ dbt.type_string() }}))) as consent_raw,
        {{ customer360.to_utc_timestamp('updated_at') }} as record_at,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from {{ customer360.source_if_loaded('hubspot', 'contacts') }}
),

hubspot_deleted_contacts as (
    select * from {{ customer360.source_if_loaded('hubspot', 'deleted_contacts') }}
),

hubspot_contact_records as (
    select * from {{ customer360.source_if_loaded('hubspot', 'contacts') }}
),

shopify_deleted_records as (
    select * from {{ customer360.source_if_loaded('shopify', 'deleted_records') }}
),

shopify_customer_records as (
    select * from {{ customer360.source_if_loaded('shopify', 'customers') }}
),

mailchimp_members as (
    -- the email platform's feedback (raw_mailchimp.members, every status a member passed through);
    -- the table exists once the feedback source has loaded: a build before that reads nothing here
    {%- set mailchimp_raw = source('mailchimp', 'members') %}
    {%- if execute and load_relation(mailchimp_raw) is not none %}
        select
            'mailchimp' as source_system,
            cast(id as {{ dbt.type_string() }}) as source_record_id,
            email_address as email_raw,
            lower(trim(cast(status as {{ dbt.type_string() }}))) as status_raw,
            {{ customer360.to_utc_timestamp('last_changed') }} as changed_at,
            {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
        from {{ mailchimp_raw }}
    {%- else %}
        select
            'mailchimp' as source_system,
            cast(null as {{ dbt.type_string() }}) as source_record_id,
            cast(null as {{ dbt.type_string() }}) as email_raw,
            cast(null as {{ dbt.type_string() }}) as status_raw,
            cast(null as {{ dbt.type_timestamp() }}) as changed_at,
            cast(null as {{ dbt.type_timestamp() }}) as loaded_at
        where 1 = 0
    {%- endif %}
),

segment_unreadable_lines as (
    -- a line the loader rejected (broken JSON, colliding messageId ...) that mentions an email event:
    -- its meaning cannot be read, so every address in it is suppressed (fail closed)
    select
        {{ customer360.guard_readable_text('raw_text') }} as raw_text,
        {{ customer360.regex_matches(customer360.guard_readable_text('raw_text'), undeliverable_pattern) }}
            as mentions_undeliverable,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from {{ customer360.source_if_loaded('segment', 'rejected_events') }}
    where {{ customer360.regex_matches(customer360.guard_readable_text('raw_text'), email_events_pattern) }}
),

csv_rejected_rows as (
    select
        source_name,
        {{ customer360.guard_readable_text('raw_text') }} as raw_text,
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} as loaded_at
    from {{ customer360.source_if_loaded('csv_contacts', 'rejected_rows') }}
),

consent_history as (
    select
        source_system,
        source_record_id,
        email as email_raw,
        consent_state,
        consent_updated_at as consent_at,
        record_updated_at as record_at,
        dbt_valid_from,
        dbt_valid_to,
        coalesce(loaded_at, dbt_valid_from) as loaded_at
    from {{ ref('email_consent_snapshot') }}
),

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

departed_records as (
    -- a record gone from the map (deleted, redacted): the customers it was with, for its opt-outs only, so that a
    -- rebuild does not make its person sendable again
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__departed_records') }}
),

current_opt_out_addresses as (
    -- a record's current snapshot version (snapshot config dbt_valid_to_current) when it is an opt-out
    select
        source_system,
        source_record_id,
        {{ customer360.normalize_email('email_raw') }} as email,
        dbt_valid_from as captured_at
    from consent_history
    where
        consent_state = 'opted_out'
        and dbt_valid_to = cast('9999-12-31' as {{ dbt.type_timestamp() }})
),

current_opt_out_versions as (
    -- its address keyed as the evidence is (below), and when it was captured
    select
        source_system,
        source_record_id,
        {{ customer360.email_match_key('email') }} as email_key,
        captured_at
    from current_opt_out_addresses
),

hubspot_deletions as (
    -- a contact HubSpot no longer has (issue 11): its address is never mailed again from that record
    select
        'hubspot' as source_system,
        cast(contacts.id as {{ dbt.type_string() }}) as source_record_id,
        contacts.properties__email as email_raw,
        {{ customer360.to_utc_timestamp('deleted.detected_at') }} as deleted_at,
        {{ customer360.load_id_to_timestamp('deleted._dlt_load_id') }} as loaded_at
    from hubspot_deleted_contacts as deleted
    inner join hubspot_contact_records as contacts
        on cast(contacts.id as {{ dbt.type_string() }}) = cast(deleted.id as {{ dbt.type_string() }})
),

shopify_deletions as (
    -- customers/delete and customers/redact (issue 11); a redact payload names the address itself
    select
        'shopify' as source_system,
        {{ dbt.concat(["'customer:'", 'cast(deleted.record_id as ' ~ dbt.type_string() ~ ')']) }} as source_record_id,
        coalesce(deleted.email, customers.email) as email_raw,
        {{ customer360.to_utc_timestamp('deleted.deleted_at') }} as deleted_at,
        {{ customer360.load_id_to_timestamp('deleted._dlt_load_id') }} as loaded_at
    from shopify_deleted_records as deleted
    left join shopify_customer_records as customers
        on deleted.record_id = customers.id
    where deleted.record_type = 'customer'
),

deletions as (
    select
        'hubspot_deletion' as deletion_origin,
        hubspot_deletions.*
    from hubspot_deletions
    union all
    select
        'shopify_deletion' as deletion_origin,
        shopify_deletions.*
    from shopify_deletions
),

segment_unreadable_addresses as (
    select
        unreadable.mentions_undeliverable,
        unreadable.loaded_at,
        addresses.email_raw
    from segment_unreadable_lines as unreadable
    cross join {{ customer360.regex_extract_all_rows('unreadable.raw_text', address_pattern) }} as addresses (email_raw)
),

csv_consent_drops as (
    -- a drop carries consent when any of its rows has a consent value (every row, whatever its load)
    {%- for drop in customer360.csv_contact_drop_relations() %}
        select distinct '{{ drop.identifier }}' as source_system
        from {{ drop }}
        where nullif(trim(email_consent), '') is not null
        union all
    {%- endfor %}
    select cast(null as {{ dbt.type_string() }}) as source_system
    where false
),

csv_unreadable_addresses as (
    -- a row the loader could not parse, from a drop that carries consent: its consent cannot be read,
    -- so every address in it is suppressed (fail closed) until a readable row says otherwise
    select
        unreadable.source_name as source_system,
        unreadable.loaded_at,
        addresses.email_raw
    from csv_rejected_rows as unreadable
    cross join {{ customer360.regex_extract_all_rows('unreadable.raw_text', address_pattern) }} as addresses (email_raw)
    where unreadable.source_name in (select csv_consent_drops.source_system from csv_consent_drops)
),

{#- Segment email events, CSV consent rows, Shopify customers and orders, the consent history: the last
    build's reading of the raw rows still there as they were (int_engagement__suppression_evidence_at_build),
    and the rest read here, live (macro suppression_evidence_row_ctes). -#}
{%- if var('consent_guard_reuse_build_evidence') %}
    {{ customer360.suppression_evidence_row_ctes('since_build', covered, at_build_relation) }},
{%- else %}
    {{ customer360.suppression_evidence_row_ctes('all') }},
{%- endif %}

evidence_read_at_build as (
    -- a row counts only while its raw row is there under the same load: a reload (new load id) is read live
    -- instead, and a row deleted since (an erasure, a reloaded file's old lines) is gone from both
    {%- if var('consent_guard_reuse_build_evidence') %}
        {%- for table in reusable %}
            select
                at_build.evidence_origin,
                at_build.source_system,
                at_build.source_record_id,
                at_build.email_key,
                at_build.evidence_kind,
                at_build.evidence_at
            from {{ at_build_relation }} as at_build
            where
                at_build.raw_table = '{{ table.raw_table }}'
                {%- if table.by_load %}
                    and {{ customer360.suppression_evidence_reused_loads(covered, table.raw_table) }}
                {%- endif %}
                and {{ customer360.suppression_evidence_raw_row_exists(table) }}
            union all
        {%- endfor %}
    {%- endif %}
    select
        cast(null as {{ dbt.type_string() }}) as evidence_origin,
        cast(null as {{ dbt.type_string() }}) as source_system,
        cast(null as {{ dbt.type_string() }}) as source_record_id,
        cast(null as {{ dbt.type_string() }}) as email_key,
        cast(null as {{ dbt.type_string() }}) as evidence_kind,
        cast(null as {{ dbt.type_timestamp() }}) as evidence_at
    where false
),

evidence as (
    select
        'hubspot_contact' as evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        'opt_out' as evidence_kind,
        -- the contact's latest update: an edit cannot be told from the opt-out set again (HubSpot gives it no
        -- time of its own), so the guard takes the later reading (the ledger: the snapshot's first capture)
        coalesce({{ customer360.guard_plausible_timestamp('record_at', 'loaded_at') }}, loaded_at) as evidence_at
    from hubspot_contacts
    -- anything but HubSpot's default "false" is read as an opt-out ("true", "1", "yes" ...)
    where consent_raw is not null and consent_raw not in ('', 'false')

    union all

    select
        deletion_origin as evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        'opt_out' as evidence_kind,
        coalesce({{ customer360.guard_plausible_timestamp('deleted_at', 'loaded_at') }}, loaded_at) as evidence_at
    from deletions

    union all

    select
        'mailchimp_member' as evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        case when status_raw = 'cleaned' then 'undeliverable' else 'opt_out' end as evidence_kind,
        coalesce({{ customer360.guard_plausible_timestamp('changed_at', 'loaded_at') }}, loaded_at) as evidence_at
    from mailchimp_members
    -- anything but a subscribed or neutral status is read as an opt-out (unsubscribed, complaints, new statuses)
    where status_raw is not null and status_raw not in ('', 'subscribed', 'pending', 'transactional', 'archived')

    union all

    select
        'segment_unreadable_line' as evidence_origin,
        'segment' as source_system,
        cast(null as {{ dbt.type_string() }}) as source_record_id,
        email_raw,
        case when mentions_undeliverable then 'undeliverable' else 'opt_out' end as evidence_kind,
        loaded_at as evidence_at
    from segment_unreadable_addresses

    union all

    select
        'csv_unreadable_row' as evidence_origin,
        source_system,
        cast(null as {{ dbt.type_string() }}) as source_record_id,
        email_raw,
        'opt_out' as evidence_kind,
        loaded_at as evidence_at
    from csv_unreadable_addresses

    union all

    select
        evidence_origin,
        source_system,
        source_record_id,
        email_raw,
        evidence_kind,
        evidence_at
    from guard_rows_evidence
),

normalized as (
    select
        evidence_origin,
        source_system,
        source_record_id,
        {{ customer360.normalize_email('email_raw') }} as email,
        evidence_kind,
        evidence_at
    from evidence
),

reading_check as (
    -- the table's reading must be the one this view would make now: a seed or var changed since the table was
    -- built (a `dbt seed` alone) would leave rows read the old way, and the rows of the loads it covers are not
    -- read here; reading the view raises an error until a build reads them again (fails closed)
    {%- if var('consent_guard_reuse_build_evidence') %}
        select
            case
                when count(*) = 0 then true
                when
                    min(at_build.reading_fingerprint) = max(at_build.reading_fingerprint)
                    and min(at_build.reading_fingerprint) = {{ customer360.suppression_evidence_reading_fingerprint() }}
                    then true
                else {{ customer360.raise_error(
                    "'the suppression guard''s evidence was read by the last build with other seeds or vars: "
                    ~ "run customer360 build (or dbt build) before reading the activation views'"
                ) }}
            end as is_reading_current
        from {{ at_build_relation }} as at_build
    {%- else %}
        select true as is_reading_current
    {%- endif %}
),

keyed as (
    -- one row per distinct piece of evidence (a contact re-exported in every CSV file says it once)
    select distinct
        evidence_origin,
        source_system,
        source_record_id,
        email_key,
        evidence_kind,
        evidence_at
    from (
        select
            evidence_origin,
            source_system,
            source_record_id,
            {{ customer360.email_match_key('email') }} as email_key,
            evidence_kind,
            evidence_at
        from normalized
        union all
        select * from evidence_read_at_build
    ) as read_now_or_at_build
),

final as (
    select
        {{ surrogate_key(['keyed.evidence_origin', 'keyed.source_system', 'keyed.source_record_id', 'keyed.email_key',
            'keyed.evidence_kind', 'keyed.evidence_at', 'coalesce(identities.customer_id, departed_records.customer_id)'])
        }} as evidence_id,
        keyed.evidence_origin,
        keyed.source_system,
        keyed.source_record_id,
        coalesce(identities.customer_id, departed_records.customer_id) as customer_id,
        case
            when identities.customer_id is not null then 'identity_map'
            when departed_records.customer_id is not null then 'departed_record'
        end as customer_link,
        keyed.email_key,
        keyed.evidence_kind,
        keyed.evidence_at,
        current_opt_out_versions.captured_at as snapshot_captured_at
    from keyed
    left join identities
        on keyed.source_system = identities.source_system and keyed.source_record_id = identities.source_record_id
    left join departed_records
        on
            identities.customer_id is null
            and keyed.evidence_kind = 'opt_out'
            and keyed.source_system = departed_records.source_system
            and keyed.source_record_id = departed_records.source_record_id
    left join current_opt_out_versions
        on
            keyed.source_system = current_opt_out_versions.source_system
            and keyed.source_record_id = current_opt_out_versions.source_record_id
            and keyed.email_key = current_opt_out_versions.email_key
            and keyed.evidence_origin in ('hubspot_contact', 'shopify_customer')
            and keyed.evidence_kind = 'opt_out'
    cross join reading_check
    where
        (keyed.email_key is not null or identities.customer_id is not null or departed_records.customer_id is not null)
        and reading_check.is_reading_current
)

select * from final
