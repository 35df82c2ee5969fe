{#-
    Fails on rows whose non-null value is not in column `column` of seed `seed`, optionally restricted
    by `seed_where` (a SQL condition on the seed, e.g. "source_system = 'shopify'"). The seed is the
    single list of accepted values, so adding a value is a one-line CSV change.
-#}
{% test accepted_values_from_seed(model, column_name, seed, column, seed_where=none) %}

select {{ column_name }} as unaccepted_value
from {{ model }}
where
    {{ column_name }} is not null
    and {{ column_name }} not in (
        select accepted.{{ column }}
        from {{ ref(seed) }} as accepted
        where
            accepted.{{ column }} is not null
            {%- if seed_where %}
            and ({{ seed_where }})
            {%- endif %}
    )

{% endtest %}
