{#-
    unique, not_null and accepted_values over one relation in a single scan: one row per failed check,
    with the number of rows that break it. For views that are expensive to compute (the suppression
    guard reads every source's raw tables live): each generic test would compute the view again.
    `unique` counts the non-null values that repeat (as dbt's unique test, nulls are left to not_null);
    `accepted_values` passes nulls (as dbt's). Columns may be expressions.
-#}
{% test checked_in_one_scan(model, unique=[], not_null=[], accepted_values={}) %}

{%- set checks = [] %}
{%- for column in unique %}
    {%- do checks.append(('unique', column, 'count(' ~ column ~ ') - count(distinct ' ~ column ~ ')')) %}
{%- endfor %}
{%- for column in not_null %}
    {%- do checks.append(('not_null', column, 'count(*) - count(' ~ column ~ ')')) %}
{%- endfor %}
{%- for column, values in accepted_values.items() %}
    {%- set listed = [] %}
    {%- for value in values %}{% do listed.append("'" ~ (value | replace("'", "''")) ~ "'") %}{% endfor %}
    {%- do checks.append((
        'accepted_values', column,
        'sum(case when ' ~ column ~ ' not in (' ~ listed | join(', ') ~ ') then 1 else 0 end)'
    )) %}
{%- endfor %}

with

counts as (
    select
        {%- for check in checks %}
            {{ check[2] }} as failing_{{ loop.index }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}
),

checks as (
    {%- for check in checks %}
        select
            '{{ check[0] }}' as check_name,
            '{{ check[1] | replace("'", "''") }}' as checked_column,
            failing_{{ loop.index }} as failing_rows
        from counts
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from checks
where failing_rows > 0

{% endtest %}
