{#- Fails on rows whose non-null value is not an ISO 3166-1 alpha-2 code of seed country_codes. -#}
{% test iso2_country(model, column_name) %}

select {{ column_name }} as unknown_country
from {{ model }}
where
    {{ column_name }} is not null
    and {{ column_name }} not in (select iso2 from {{ ref('country_codes') }})

{% endtest %}
