with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

clusters as (
    select
        record_key,
        cluster_id
    from {{ ref('int_identity__clusters') }}
),

scored as (
    select * from {{ ref('int_identity__scored_pairs') }}
    where decision in ('accept', 'review')
),

strong_clusters as (
    select
        record_key,
        cluster_date_of_birth
    from {{ ref('int_identity__strong_clusters') }}
),

flagged as (
    select
        scored.*,
        case
            when scored.decision = 'review' and scored.veto_reason is not null then scored.veto_reason
            when scored.decision = 'review' then 'near_threshold'
            when
                ca.cluster_id <> cb.cluster_id and sa.cluster_date_of_birth is not null
                and sb.cluster_date_of_birth is not null then 'cluster_dob_conflict'
            when ca.cluster_id <> cb.cluster_id then 'attached_elsewhere'
        end as review_reason
    from scored
    inner join clusters as ca on scored.record_key_a = ca.record_key
    inner join clusters as cb on scored.record_key_b = cb.record_key
    inner join strong_clusters as sa on scored.record_key_a = sa.record_key
    inner join strong_clusters as sb on scored.record_key_b = sb.record_key
),

final as (
    select
        flagged.record_key_a,
        flagged.record_key_b,
        flagged.review_reason,
        flagged.match_probability,
        flagged.match_weight,
        flagged.blocking_rule,
        flagged.first_name_level,
        flagged.last_name_level,
        flagged.date_of_birth_level,
        flagged.email_level,
        flagged.phone_level,
        flagged.location_level,
        a.first_name || ' ' || a.last_name as name_a,
        b.first_name || ' ' || b.last_name as name_b,
        a.email as email_a,
        b.email as email_b,
        a.date_of_birth as date_of_birth_a,
        b.date_of_birth as date_of_birth_b,
        a.phone_e164 as phone_a,
        b.phone_e164 as phone_b,
        concat_ws(', ', a.address_line1, a.postal_code, a.city) as address_a,
        concat_ws(', ', b.address_line1, b.postal_code, b.city) as address_b
    from flagged
    inner join records as a on flagged.record_key_a = a.record_key
    inner join records as b on flagged.record_key_b = b.record_key
    where flagged.review_reason is not null
)

select * from final
