with

erased as (
    select * from {{ source('privacy', 'erased_identifiers') }}
),

final as (
    select distinct
        identifier_kind,
        identifier_hash,
        {#- referenced by every join on this view, so a session without the salt cannot skip the check -#}
        case
            when {{ customer360.erasure_salt() }} is null
                then {{ customer360.raise_error(
                    "'erasure requests exist: set PRIVACY__ERASURE_SALT to read the activation views'"
                ) }}
            else true
        end as is_salt_set
    from erased
    where identifier_kind in ('email', 'customer')
)

select * from final
