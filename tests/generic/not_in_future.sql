{#-
    Fails on rows whose date/timestamp is later than now (UTC) plus a grace interval.
    `as_of` replaces "now" with a fixed point (a 'YYYY-MM-DD[ HH:MM:SS]' literal or a SQL expression), e.g.
    the demo data's as-of date, so a rebuild of old data does not start failing or passing by the clock.
-#}
{% test not_in_future(model, column_name, grace_interval=0, grace_datepart='day', as_of=none) %}

{%- if as_of is none -%}
    {%- set reference = customer360.utc_now() -%}
{%- elif as_of is string and modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9:.]+)?$', as_of) -%}
    {%- set reference = "cast('" ~ as_of ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
{%- else -%}
    {%- set reference = as_of -%}
{%- endif %}

select {{ column_name }} as future_value
from {{ model }}
where {{ column_name }} > {{ dbt.dateadd(grace_datepart, grace_interval, reference) }}

{% endtest %}
