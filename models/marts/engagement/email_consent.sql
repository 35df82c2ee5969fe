with

consent_signals as (
    select * from {{ ref('int_engagement__consent_signals') }}
),

signals as (
    select
        *,
        -- Order of signals within a customer: time, then opt-out after opt-in at the same instant, so
        -- the opt-out is the one that stands.
        case consent_state when 'opted_in' then 1 when 'pending' then 2 when 'opted_out' then 3 else 4 end
            as state_precedence,
        -- an undated opt-in sorts before every dated signal: it never outranks an opt-out
        coalesce(signal_at, cast('0001-01-01' as {{ dbt.type_timestamp() }})) as ordering_at
    from consent_signals
),

sequenced as (
    select
        *,
        -- the latest explicit consent signal up to and including this one (bounces are not consent)
        max(case when is_explicit and consent_state in ('opted_in', 'opted_out', 'pending') then
            {{ dbt.concat([
                dbt.cast('ordering_at', dbt.type_string()), "'|'",
                dbt.cast('state_precedence', dbt.type_string()), "'|'", 'consent_state'
            ]) }} end)
            over (
                partition by customer_id
                order by ordering_at, state_precedence, consent_signal_id
                rows between unbounded preceding and current row
            ) as latest_explicit_key,
        row_number() over (
            partition by customer_id
            order by ordering_at desc, state_precedence desc, consent_signal_id desc
        ) as recency_rank
    from signals
),

final as (
    select
        consent_signal_id,
        customer_id,
        source_system,
        source_record_id,
        email,
        consent_state,
        signal_type,
        is_explicit,
        signal_origin,
        signal_at,
        signal_dated_by,
        case when customer_id is not null then {{ dbt.split_part('latest_explicit_key', "'|'", 3) }} end
            as customer_consent_state_after,
        customer_id is not null and recency_rank = 1 as is_latest_for_customer
    from sequenced
)

select * from final
