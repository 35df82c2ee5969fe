{#
    How common each first name, last name and city is among source records. The matcher uses it to
    weigh an exact agreement by the value itself (Fellegi-Sunter term-frequency adjustment): two records
    that are both "Smith" prove less than two that are both "Wojciechowski".
    tf = records with the value / records with any value; u for an exact match on that value is tf.
#}

{%- set tf_columns = identity_term_frequency_columns() %}

with

records as (
    select * from {{ ref('int_identity__source_records') }}
),

counts as (
    {%- for comparison, column in tf_columns.items() %}
        select
            '{{ comparison }}' as comparison,
            {{ column }} as value,
            count(*) as records
        from records
        where {{ column }} is not null
        group by all
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    comparison,
    value,
    records,
    records / sum(records) over (partition by comparison) as term_frequency
from counts
