{#- Fails on rows whose non-null value is not a syntactically valid email (customer360.is_valid_email). -#}
{% test valid_email(model, column_name) %}

select {{ column_name }} as invalid_email
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ customer360.is_valid_email(column_name) }}

{% endtest %}
