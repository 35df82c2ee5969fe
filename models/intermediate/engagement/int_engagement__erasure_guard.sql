{#
    The erasure guard: salted hashes of the addresses and customer ids of people erased on request
    (source privacy.erased_identifiers), for the activation views to check at read time. A second,
    independent route: the erasure removes the person's rows everywhere, and this view still keeps any
    address or customer id that comes back (a load that bypassed the erasure check, a bug) out of
    email_audience and cart_abandonment_triggers.

    The salt is the session variable customer360_erasure_salt (set for dbt by the project's dbt-duckdb
    plugin, for `customer360 sql` by the CLI) and read by macro erasure_hash; it is never in SQL text. Fails closed: once any erasure
    is recorded, reading this view without the salt raises an error instead of letting people through.
#}

{{ config(materialized='view') }}

with

erased as (
    select * from {{ source('privacy', 'erased_identifiers') }}
),

guarded as (
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

select * from guarded
