with

contact_rows as (
    select * from {{ ref('base_csv_contacts__contact_rows') }}
    where contact_id is not null
),

ranked as (
    select
        contact_rows.*,
        row_number() over (
            partition by contact_rows.source_system, contact_rows.contact_id
            order by
                contact_rows.source_updated_at desc nulls last,
                contact_rows.source_file desc,
                contact_rows.source_row_number desc
        ) as version_rank
    from contact_rows
),

final as (
    select
        source_system,
        source_record_id,
        contact_id,
        email,
        email_match_key,
        is_role_email,
        phone_e164,
        first_name,
        last_name,
        first_name_key,
        last_name_key,
        given_name_canonical,
        date_of_birth,
        address_line1,
        address_line2,
        city,
        postal_code,
        region_code,
        country_code,
        email_consent_state,
        email_consent_updated_at,
        source_created_at,
        source_updated_at,
        loaded_at,
        source_file,
        source_row_number,
        load_id,
        email_raw,
        is_email_invalid,
        phone_raw,
        is_phone_invalid,
        date_of_birth_raw,
        date_of_birth_issue,
        oversized_values,
        value_findings,
        email_consent_raw,
        is_email_consent_unknown
    from ranked
    where version_rank = 1
)

select * from final
