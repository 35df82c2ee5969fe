{#- Fails once per combination of the columns' values that more than one row holds (a composite key's uniqueness). -#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(',\n    ') }},
    count(*) as rows_with_the_combination
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
