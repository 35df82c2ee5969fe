{#-
    Fails on rows whose flag column is set: true for a boolean flag, any non-null value for an issue
    column (date_of_birth_issue = 'invalid_date', negative_amount = 'price=-5.00'). Staging flags a
    value a source sent outside its rule's domain, nulls it (or flags the row) and the quarantine lists
    it, so use it with `severity: warn`: the build goes on and the breach is reported.
-#}
{% test not_flagged(model, column_name) %}

select {{ column_name }} as flagged_value
from {{ model }}
where
    {{ column_name }} is not null
    and cast({{ column_name }} as {{ dbt.type_string() }}) <> 'false'

{% endtest %}
