{#- Fails on rows whose value is below zero (nulls pass: test not_null separately). -#}
{% test non_negative(model, column_name) %}

select {{ column_name }} as negative_value
from {{ model }}
where {{ column_name }} < 0

{% endtest %}
