{%- set stateful_models = ['stg_hubspot__contacts', 'stg_shopify__customers', 'stg_csv_contacts__contacts'] -%}

with

unioned as (
    {% for model in stateful_models -%}
        select
            source_system,
            source_record_id,
            email,
            email_consent_state as consent_state,
            email_consent_updated_at as consent_updated_at,
            coalesce(source_updated_at, source_created_at, loaded_at) as record_updated_at,
            loaded_at
        from {{ ref(model) }}
        where source_record_id is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by source_system, source_record_id
            order by record_updated_at desc, loaded_at desc, consent_updated_at desc nulls last
        ) as recency_rank
    from unioned
),

final as (
    select
        source_system,
        source_record_id,
        email,
        consent_updated_at,
        record_updated_at,
        loaded_at,
        coalesce(consent_state, 'unknown') as consent_state
    from ranked
    where recency_rank = 1
)

select * from final
