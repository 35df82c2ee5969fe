{#- Fails on rows whose value is not a probability: below 0, above 1, or NaN (NaN sorts above every number on
    DuckDB and PostgreSQL, and fails every comparison elsewhere; nulls pass: test not_null separately). -#}
{% test probability(model, column_name) %}

select {{ column_name }} as out_of_range_value
from {{ model }}
where {{ column_name }} is not null and not ({{ column_name }} >= 0 and {{ column_name }} <= 1)

{% endtest %}
