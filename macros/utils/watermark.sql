{#
    watermark_floor(): the timestamp an incremental model compares new loads against when it holds no
    row yet (every load is newer), instead of a null that would let nothing through.
#}
{% macro watermark_floor() -%}
    cast('1900-01-01' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#
    is_empty_run(): true in a dbt run with --empty (refs and sources read no rows). An incremental model then
    removes nothing it stores: nothing was read, so nothing is known to be gone.
#}
{% macro is_empty_run() -%}
    {{ return(invocation_args_dict.get('empty', false) is sameas true) }}
{%- endmacro %}


{#
    refuse_live_view_under_empty(): a pre-hook of the intermediate and mart models. Under --empty, dbt would
    replace a view with one over zero-row relations, and a view is read live: the consent guard's views would then
    see no unsubscribe and the activation views no one (found by round 22's hostile review: a fresh unsubscriber
    back in email_audience after `build --empty`). Such a view fails instead, and the view in place stays.
#}
{% macro refuse_live_view_under_empty() -%}
    {%- if execute and model.config.materialized == 'view' and customer360.is_empty_run() -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ " is a live view (read as it stands, by the consent guard and the exports): --empty would leave "
            ~ "it reading no rows, so it is not replaced under --empty; build it without --empty"
        ) }}
    {%- endif -%}
{%- endmacro %}
