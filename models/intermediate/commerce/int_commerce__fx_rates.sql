{#
    One row per currency: the factor that converts an amount in that currency to the reporting
    currency (var `reporting_currency`), from the static demo rates in seeds/marts/fx_rates.csv.
#}

with

rates as (
    select
        usd_per_unit,
        upper(currency_code) as currency_code
    from {{ ref('fx_rates') }}
),

reporting as (
    select usd_per_unit as reporting_usd_per_unit
    from rates
    where currency_code = upper('{{ var("reporting_currency") }}')
)

select
    rates.currency_code,
    upper('{{ var("reporting_currency") }}') as reporting_currency,
    cast(rates.usd_per_unit / reporting.reporting_usd_per_unit as decimal(18, 8)) as rate_to_reporting
from rates
-- An inner join on purpose: a reporting currency missing from the seed yields no rates, and the
-- relationships test on orders.currency_code then fails loudly instead of converting to null.
inner join reporting on true
