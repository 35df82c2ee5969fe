{%- set point_in_time_models = {
    'stg_segment__events': 'event',
    'stg_shopify__orders': 'order',
    'stg_csv_contacts__contacts': 'export_row',
    'stg_mailchimp__members': 'platform_status'
} -%}
{#- model -> signal_origin -#}

with

record_versions as (
    select
        source_system,
        source_record_id,
        email,
        consent_state,
        consent_updated_at as consent_at,
        record_updated_at as record_at,
        dbt_valid_from as received_at,
        -- the version's load time bounds its timestamps; a snapshot taken before loaded_at was kept has none
        coalesce(loaded_at, dbt_valid_from) as loaded_at,
        'record_state' as signal_origin
    from {{ ref('email_consent_snapshot') }}
),

point_in_time as (
    {% for model, origin in point_in_time_models.items() -%}
        {#- an email event's address may sit in any of its fields, however messy (stg_segment__events) -#}
        {%- set email_expr = 'coalesce(email, email_from_any_field)' if model == 'stg_segment__events' else 'email' %}
        select
            source_system,
            source_record_id,
            {{ email_expr }} as email,
            email_consent_state as consent_state,
            email_consent_updated_at as consent_at,
            -- the record's creation dates only an opt-in (it was given by then at the latest); an opt-out or
            -- a bounce may have come any time after, so without the record's update time it is dated when
            -- received (an export row whose updated_at staging could not read)
            case
                when email_consent_state = 'opted_in' then coalesce(source_updated_at, source_created_at)
                else source_updated_at
            end as record_at,
            loaded_at as received_at,
            loaded_at,
            '{{ origin }}' as signal_origin
        from {{ ref(model) }}
        where source_record_id is not null or {{ email_expr }} is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

rules as (
    select
        source_system,
        consent_state,
        is_explicit
    from {{ ref('consent_signal_rules') }}
),

identities as (
    select
        source_system,
        source_record_id,
        customer_id
    from {{ ref('int_identity__customer_map') }}
),

signals as (
    select * from record_versions
    union all
    select * from point_in_time
),

classified as (
    select
        signals.*,
        coalesce(rules.is_explicit, true) as is_explicit,
        {{ customer360.consent_timestamp_if_plausible('signals.consent_at', 'signals.loaded_at') }}
            as plausible_consent_at,
        {{ customer360.consent_timestamp_if_plausible('signals.record_at', 'signals.loaded_at') }}
            as plausible_record_at
    from signals
    left join rules
        on signals.source_system = rules.source_system and signals.consent_state = rules.consent_state
    where signals.consent_state is not null and signals.consent_state <> 'unknown'
),

dated as (
    select
        *,
        consent_state = 'opted_in' and is_explicit as is_explicit_opt_in,
        -- a consent time the source wrote but that cannot be meant (before
        -- consent_earliest_valid_timestamp, after the load) dates the signal when it was received, never
        -- by the record's own time, which can be far earlier: fail closed for an opt-out
        case
            when plausible_consent_at is not null then plausible_consent_at
            when consent_state = 'opted_in' and is_explicit then null
            when consent_at is not null then received_at
            else coalesce(plausible_record_at, received_at)
        end as signal_at,
        case
            when plausible_consent_at is not null then 'consent_timestamp'
            when consent_state = 'opted_in' and is_explicit then 'undated'
            when consent_at is not null then 'received_at'
            when plausible_record_at is not null then 'record_timestamp'
            else 'received_at'
        end as signal_dated_by
    from classified
),

deduplicated as (
    -- The same statement reaches us several times (a snapshot version and the CSV row it came from,
    -- a re-exported CSV row): keep one, preferring the most specific origin.
    select
        *,
        row_number() over (
            partition by source_system, source_record_id, email, consent_state, signal_at
            order by case signal_origin when 'event' then 1 when 'order' then 2 when 'export_row' then 3 else 4 end
        ) as duplicate_rank
    from dated
),

final as (
    select
        {{ surrogate_key(['signals.source_system', 'signals.source_record_id', 'signals.email', 'signals.consent_state',
            'signals.signal_at']) }} as consent_signal_id,
        identities.customer_id,
        signals.source_system,
        signals.source_record_id,
        signals.email,
        signals.consent_state,
        signals.signal_at,
        signals.signal_dated_by,
        signals.signal_origin,
        signals.is_explicit,
        case
            when signals.consent_state = 'opted_in' then 'opt_in'
            when signals.consent_state = 'opted_out' then 'opt_out'
            when signals.consent_state = 'pending' then 'pending'
            when signals.consent_state = 'invalid' then 'undeliverable'
        end as signal_type
    from deduplicated as signals
    left join identities
        on signals.source_system = identities.source_system and signals.source_record_id = identities.source_record_id
    where signals.duplicate_rank = 1
)

select * from final
