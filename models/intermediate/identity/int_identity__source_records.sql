with

observations as (
    select
        observed.*,
        {{ customer360.identity_row_hash('observed') }} as observation_hash
    from {{ ref('int_identity__observations') }} as observed
),

{% set summary_sql -%}
preferred as (
    select
        observations_to_summarize.*,
        -- Preference (arg_max takes the highest): own profile first, then most recent, then a tie-break on
        -- email, then on the whole row, so the choice never depends on the order rows are read in. One integer
        -- rather than a struct: the ten arg_max below compare it on every row; with a struct they were 23
        -- operator-seconds of the model's 21 s on two threads at 1M people. A struct puts a null field above
        -- any value, as nulls last does; asc is written out, a profile may set default_order.
        row_number() over (
            partition by record_key
            order by
                case observation_kind when 'profile' then 1 else 0 end asc,
                observed_at asc nulls last,
                coalesce(email, '') asc,
                observation_hash asc
        ) as preference
    from observations_to_summarize
),

records as (
    select
        record_key,
        any_value(source_system) as source_system,
        any_value(source_record_id) as source_record_id,
        -- email and phone: the values the record shows now (all of its values are identifiers).
        arg_max(email, preference) filter (where email is not null) as email,
        arg_max(email_match_key, preference) filter (where email is not null) as email_match_key,
        arg_max(is_role_email, preference) filter (where email is not null) as is_role_email,
        arg_max(phone_e164, preference) filter (where phone_e164 is not null) as phone_e164,
        arg_max(
            {
                'first_name': first_name,
                'last_name': last_name,
                'first_name_key': first_name_key,
                'last_name_key': last_name_key,
                'given_name_canonical': given_name_canonical
            },
            preference
        ) filter (where first_name_key is not null or last_name_key is not null) as name_parts,
        arg_max(date_of_birth, preference) filter (where date_of_birth is not null) as date_of_birth,
        arg_max(
            {
                'address_line1': address_line1,
                'address_line2': address_line2,
                'city': city,
                'postal_code': postal_code,
                'region_code': region_code
            },
            preference
        ) filter (where address_line1 is not null or postal_code is not null or city is not null) as address,
        arg_max(country_code, preference) filter (where country_code is not null) as country_code,
        min(source_created_at) as source_created_at,
        max(source_updated_at) as source_updated_at,
        min(loaded_at) as first_loaded_at,
        max(loaded_at) as last_loaded_at,
        count(*) as observations
    from preferred
    group by record_key
),

addressed as (
    -- the street line's match key without its secondary unit, computed once (the house number is read
    -- from it), and the unit apart: 'Apt. 39' given by one record and omitted by another is no conflict
    select
        *,
        {{ identity_address_key(identity_address_street('address.address_line1')) }} as address_key,
        {{ identity_address_unit('address.address_line1', 'address.address_line2') }} as address_unit
    from records
),

summarized as (
    select
        {{ customer360.identity_record_id('addressed.record_key') }} as record_id,
        addressed.record_key,
        addressed.source_system,
        addressed.source_record_id,
        addressed.email,
        addressed.email_match_key,
        coalesce(is_role_email, false) as is_role_email,
        split_part(addressed.email_match_key, '@', 1) as email_local_part,
        -- the first run of 3+ digits in the local part ('' when none), compared by the email comparison
        regexp_extract(split_part(addressed.email_match_key, '@', 1), '[0-9]{3,}') as email_local_number,
        addressed.phone_e164,
        name_parts.first_name,
        name_parts.last_name,
        name_parts.first_name_key,
        name_parts.last_name_key,
        name_parts.given_name_canonical,
        {{ identity_phonetic_key('name_parts.first_name_key') }} as first_name_phonetic,
        {{ identity_phonetic_key('name_parts.last_name_key') }} as last_name_phonetic,
        addressed.date_of_birth,
        address.address_line1,
        address.address_line2,
        addressed.address_key,
        addressed.address_unit,
        -- the house number ('' when the street line has none), compared before street names' similarity
        regexp_extract(addressed.address_key, '[0-9]+') as address_number,
        address.city,
        lower(address.city) as city_key,
        address.postal_code,
        address.region_code,
        addressed.country_code,
        addressed.source_created_at,
        addressed.source_updated_at,
        addressed.first_loaded_at,
        addressed.last_loaded_at,
        addressed.observations
    from addressed
)
{%- endset -%}
{%- set summary_logic_fingerprint = customer360.identity_logic_fingerprint(summary_sql) -%}
{%- set summarized_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list
    if is_incremental() else [] %}

fingerprints as (
    select
        record_key,
        {{ customer360.identity_rows_fingerprint('observation_hash') }} as observations_fingerprint
    from observations
    group by record_key
),

records_to_summarize as (
    select *
    from fingerprints
    {% if is_incremental() and 'summary_logic_fingerprint' in summarized_columns %}
        -- the records whose observations or summary SQL changed since their row was written (a table written
        -- before these columns existed is summarized whole, once)
        where not exists (
            select 1
            from {{ this }} as summarized
            where
                summarized.record_key = fingerprints.record_key
                and summarized.observations_fingerprint = fingerprints.observations_fingerprint
                and summarized.summary_logic_fingerprint = {{ summary_logic_fingerprint }}
        )
    {% endif %}
),

observations_to_summarize as (
    select observations.*
    from observations
    inner join records_to_summarize on observations.record_key = records_to_summarize.record_key
),

{{ summary_sql }},

final as (
    select
        summarized.*,
        records_to_summarize.observations_fingerprint,
        {{ summary_logic_fingerprint }} as summary_logic_fingerprint
    from summarized
    inner join records_to_summarize on summarized.record_key = records_to_summarize.record_key
)

select * from final
