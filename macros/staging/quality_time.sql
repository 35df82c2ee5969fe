{#
    The latest moment that is not "in the future" for the staging validation rules: the build time
    (UTC) plus `staging_future_grace_days`, so clock skew between a source and the warehouse never
    quarantines a fresh record. The not_in_future tests in the staging yml use the same var.
#}
{% macro staging_future_cutoff() -%}
    {{ dbt.dateadd('day', var('staging_future_grace_days', 1), customer360.utc_now()) }}
{%- endmacro %}


{#
    dlt's `_dlt_load_id` is the load's unix timestamp as text ("1764113000.123456"): the moment the
    row was loaded, as a UTC timestamp.
#}
{% macro load_id_to_timestamp(load_id) -%}
    {{ return(adapter.dispatch('load_id_to_timestamp', 'customer360')(load_id)) }}
{%- endmacro %}

{% macro default__load_id_to_timestamp(load_id) -%}
    cast(to_timestamp(cast({{ load_id }} as double precision)) at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}
