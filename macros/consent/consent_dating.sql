{#
    consent_timestamp_if_plausible(ts, loaded_at): `ts` when a source could really have given it — no
    earlier than `consent_earliest_valid_timestamp` and no later than the moment the row was loaded plus
    `consent_max_clock_skew_minutes` (a source cannot report a choice before the person made it) — else
    null. A consent date in 2099, or 1970 from a zeroed field, is no evidence of *when*: such an opt-in is
    undated and never outranks an opt-out (docs/dbt/consent.md).
#}
{% macro consent_timestamp_if_plausible(ts, loaded_at) -%}
    case
        when
            {{ ts }} >= cast('{{ var("consent_earliest_valid_timestamp") }}' as {{ dbt.type_timestamp() }})
            and {{ ts }} <= {{ dbt.dateadd('minute', var('consent_max_clock_skew_minutes'), loaded_at) }}
            then {{ ts }}
    end
{%- endmacro %}
