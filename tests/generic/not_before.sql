{#- Fails on rows whose date/timestamp is earlier than `date` ('YYYY-MM-DD'), e.g. birth dates before 1900. -#}
{% test not_before(model, column_name, date) %}

select {{ column_name }} as too_early_value
from {{ model }}
where {{ column_name }} < cast('{{ date }}' as date)

{% endtest %}
