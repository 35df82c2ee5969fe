{#- Fails on rows whose non-null value is not an E.164 number ('+' and 7-15 digits). -#}
{% test e164_phone(model, column_name) %}

select {{ column_name }} as invalid_phone
from {{ model }}
where
    {{ column_name }} is not null
    and not {{ customer360.is_valid_e164(column_name) }}

{% endtest %}
