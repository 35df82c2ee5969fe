with

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

rates as (
    select
        usd_per_unit,
        upper(currency_code) as currency_code
    from fx_rates
),

reporting as (
    select usd_per_unit as reporting_usd_per_unit
    from rates
    where currency_code = upper('{{ var("reporting_currency") }}')
),

final as (
    select
        rates.currency_code,
        upper('{{ var("reporting_currency") }}') as reporting_currency,
        cast(rates.usd_per_unit / reporting.reporting_usd_per_unit as decimal(18, 8)) as rate_to_reporting
    from rates
    -- An inner join on purpose: a reporting currency missing from the seed yields no rates, and the
    -- relationships test on orders.currency_code then fails loudly instead of converting to null.
    inner join reporting on true
)

select * from final
