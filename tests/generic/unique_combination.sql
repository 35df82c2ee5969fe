{#-
    Fails for each combination of the columns that more than one row holds: a primary key of several columns,
    tested as a group-by of the columns themselves (cheaper than `unique` over a text expression joining them).
    Rows with a null in any of the columns are left to not_null, as dbt's unique leaves nulls.
-#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as rows_holding_it
from {{ model }}
where
    {%- for column in columns %}
        {{ column }} is not null{% if not loop.last %} and{% endif %}
    {%- endfor %}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
