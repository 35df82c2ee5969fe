{#
    Dates and timestamps. All timestamps in the warehouse are UTC `timestamp` (without time zone).
    Impossible values (1985-02-30, 25:00) give null, never an error, so staging can quarantine them.
#}

{# ISO-8601 pieces shared by the implementations; hours/minutes/seconds are range-checked here. #}
{% macro _iso_date_pattern() -%}[0-9]{4}-[0-9]{2}-[0-9]{2}{%- endmacro %}
{% macro _iso_time_pattern() -%}([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,9})?)?{%- endmacro %}
{% macro _iso_offset_pattern() -%}(Z|z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?){%- endmacro %}

{% macro _iso_naive_pattern() -%}
    {{- '^' ~ customer360._iso_date_pattern() ~ '([T ]' ~ customer360._iso_time_pattern() ~ ')?$' -}}
{%- endmacro %}

{% macro _iso_offset_timestamp_pattern() -%}
    {{- '^' ~ customer360._iso_date_pattern() ~ '[T ]' ~ customer360._iso_time_pattern() ~ customer360._iso_offset_pattern() ~ '$' -}}
{%- endmacro %}


{#
    is_valid_calendar_date(year, month, day): integer SQL expressions -> boolean, with leap years.
    For engines whose casts raise on impossible dates instead of returning null.
#}
{% macro is_valid_calendar_date(year_expr, month_expr, day_expr) -%}
    (
        ({{ month_expr }}) between 1 and 12
        and ({{ day_expr }}) >= 1
        and ({{ day_expr }}) <= case
            when ({{ month_expr }}) = 2 then
                case
                    when mod({{ year_expr }}, 400) = 0 or (mod({{ year_expr }}, 4) = 0 and mod({{ year_expr }}, 100) <> 0)
                        then 29
                    else 28
                end
            when ({{ month_expr }}) in (4, 6, 9, 11) then 30
            else 31
        end
    )
{%- endmacro %}


{#
    to_utc_timestamp(expr): an ISO-8601 string to a UTC timestamp.
    "2024-03-01T05:00:00-05:00" -> 2024-03-01 10:00:00; "2024-03-01T10:00:00.512Z" -> 10:00:00.512;
    no offset ("2024-03-01 10:00", "2024-03-01") is taken as UTC already. Anything else -> null.
#}
{% macro to_utc_timestamp(expr, source_type=none) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'customer360')(expr, source_type)) }}
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(expr, source_type=none) -%}
    {%- set text = 'trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    {%- set kind = (source_type or '') | lower -%}
    {%- if kind in ('timestamp with time zone', 'timestamptz') -%}
    {#- Already a point in time (a loader parsed it): the same value the text path gives for the text the
        engine writes for it in a UTC session, as profiles.yml sets (years 1-9999, finite), without writing
        it and reading it back. -#}
    case
        when isfinite({{ expr }}) and year(timezone('UTC', {{ expr }})) between 1 and 9999
            then timezone('UTC', {{ expr }})
    end
    {%- elif kind in ('timestamp', 'timestamp without time zone') -%}
    case when isfinite({{ expr }}) and year({{ expr }}) between 1 and 9999 then {{ expr }} end
    {%- else -%}
    case
        when {{ customer360.regex_matches(text, customer360._iso_offset_timestamp_pattern()) }}
            {#- timestamptz honours the offset; timezone('UTC', ...) turns it into UTC wall-clock time. -#}
            then timezone('UTC', try_cast({{ text }} as timestamptz))
        when {{ customer360.regex_matches(text, customer360._iso_naive_pattern()) }}
            {#- A plain timestamp cast: a timestamptz cast would read it in the session's time zone. -#}
            then try_cast({{ text }} as timestamp)
    end
    {%- endif -%}
{%- endmacro %}

{#- source_type is ignored: the text path is right for any type, if slower. -#}
{% macro default__to_utc_timestamp(expr, source_type=none) -%}
    {%- set text = 'trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    {%- set valid_date = customer360.is_valid_calendar_date(
        'cast(substr(' ~ text ~ ', 1, 4) as integer)',
        'cast(substr(' ~ text ~ ', 6, 2) as integer)',
        'cast(substr(' ~ text ~ ', 9, 2) as integer)'
    ) -%}
    {#- Nested CASE: the calendar check may only cast substrings of text that matched the pattern. -#}
    case
        when {{ customer360.regex_matches(text, customer360._iso_offset_timestamp_pattern()) }}
            then case
                when {{ valid_date }}
                    then cast(cast({{ text }} as timestamp with time zone) at time zone 'UTC' as timestamp)
            end
        when {{ customer360.regex_matches(text, customer360._iso_naive_pattern()) }}
            then case when {{ valid_date }} then cast({{ text }} as timestamp) end
    end
{%- endmacro %}


{#
    _strptime_parts(format): the strptime format as an anchored regex with one group per field, and
    the group number of each field. Supports %Y %m %d %H %M %S %%, other characters are literal.
#}
{% macro _strptime_parts(format) -%}
    {%- set field_patterns = {
        'Y': '([0-9]{4})', 'm': '([0-9]{1,2})', 'd': '([0-9]{1,2})',
        'H': '([0-9]{1,2})', 'M': '([0-9]{2})', 'S': '([0-9]{2})'
    } -%}
    {#- Fields written with nothing between them (%Y%m%d) have fixed widths, else 1956049 would be read
        as a day 9 or a month 4, a guess -#}
    {%- set touching = customer360._strptime_fields_touch(format) -%}
    {%- if touching -%}
        {%- do field_patterns.update({'m': '([0-9]{2})', 'd': '([0-9]{2})', 'H': '([0-9]{2})'}) -%}
    {%- endif -%}
    {%- set ns = namespace(pattern='^', group=0, escaped=false) -%}
    {%- set groups = {} -%}
    {%- for char in format -%}
        {%- if ns.escaped -%}
            {%- set ns.escaped = false -%}
            {%- if char == '%' -%}
                {%- set ns.pattern = ns.pattern ~ '%' -%}
            {%- elif char in field_patterns -%}
                {%- set ns.group = ns.group + 1 -%}
                {%- do groups.update({char: ns.group}) -%}
                {%- set ns.pattern = ns.pattern ~ field_patterns[char] -%}
            {%- else -%}
                {{ exceptions.raise_compiler_error("parse_date/parse_timestamp: unsupported format directive %" ~ char ~ " in '" ~ format ~ "' (supported: %Y %m %d %H %M %S)") }}
            {%- endif -%}
        {%- elif char == '%' -%}
            {%- set ns.escaped = true -%}
        {%- elif char in '.^$*+?()[]{}|\\' -%}
            {%- set ns.pattern = ns.pattern ~ '\\' ~ char -%}
        {%- else -%}
            {%- set ns.pattern = ns.pattern ~ char -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for required in ['Y', 'm', 'd'] -%}
        {%- if required not in groups -%}
            {{ exceptions.raise_compiler_error("parse_date/parse_timestamp: format '" ~ format ~ "' needs %Y, %m and %d") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'pattern': ns.pattern ~ '$', 'groups': groups}) }}
{%- endmacro %}

{# One field of a matched value as an integer (default__ implementations). #}
{% macro _strptime_field(text, parts, field, default_value) -%}
    {%- if field in parts.groups -%}
        cast({{ customer360.regex_replace(text, parts.pattern, '\\' ~ parts.groups[field]) }} as integer)
    {%- else -%}
        {{ default_value }}
    {%- endif -%}
{%- endmacro %}


{#
    parse_date(expr, format): a date written in a strptime format ('%m/%d/%Y', '%Y-%m-%d', '%d.%m.%Y'),
    null when it does not match or is impossible ('02/30/1985').
#}
{% macro parse_date(expr, format) -%}
    {{ return(adapter.dispatch('parse_date', 'customer360')(expr, format)) }}
{%- endmacro %}

{% macro duckdb__parse_date(expr, format) -%}
    {{ customer360._fixed_width_guard(expr, format,
        'cast(try_strptime(trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')), '
        ~ customer360.sql_string_literal(format) ~ ') as date)') }}
{%- endmacro %}

{# True when two fields of a strptime format follow each other with nothing between them (%Y%m%d). #}
{% macro _strptime_fields_touch(format) -%}
    {%- set ns = namespace(escaped=false, after_field=false, touching=false) -%}
    {%- for char in format -%}
        {%- if ns.escaped -%}
            {%- set ns.escaped = false -%}
            {%- set ns.touching = ns.touching or (char != '%' and ns.after_field) -%}
            {%- set ns.after_field = char != '%' -%}
        {%- elif char == '%' -%}
            {%- set ns.escaped = true -%}
        {%- else -%}
            {%- set ns.after_field = false -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(ns.touching) }}
{%- endmacro %}

{# DuckDB's strptime takes one digit for %m or %d even when the next field follows at once (1956049):
   for such formats the value must first match the fixed-width pattern of `_strptime_parts`. #}
{% macro _fixed_width_guard(expr, format, parsed) -%}
    {%- if customer360._strptime_fields_touch(format) -%}
        {%- set parts = customer360._strptime_parts(format) -%}
        case
            when {{ customer360.regex_matches('trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))', parts.pattern) }}
                then {{ parsed }}
        end
    {%- else -%}
        {{ parsed }}
    {%- endif -%}
{%- endmacro %}

{% macro default__parse_date(expr, format) -%}
    {%- set text = 'trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    {%- set parts = customer360._strptime_parts(format) -%}
    {%- set year = customer360._strptime_field(text, parts, 'Y', none) -%}
    {%- set month = customer360._strptime_field(text, parts, 'm', none) -%}
    {%- set day = customer360._strptime_field(text, parts, 'd', none) -%}
    case
        when {{ customer360.regex_matches(text, parts.pattern) }} then
            case
                when {{ customer360.is_valid_calendar_date(year, month, day) }}
                    then cast({{ dbt.concat([
                        'cast(' ~ year ~ ' as ' ~ dbt.type_string() ~ ')', "'-'",
                        dbt.right(dbt.concat(["'0'", 'cast(' ~ month ~ ' as ' ~ dbt.type_string() ~ ')']), '2'), "'-'",
                        dbt.right(dbt.concat(["'0'", 'cast(' ~ day ~ ' as ' ~ dbt.type_string() ~ ')']), '2')
                    ]) }} as date)
            end
    end
{%- endmacro %}


{#
    parse_timestamp(expr, format): like parse_date with a time ('%m/%d/%Y %H:%M'); the result is a
    timestamp taken as UTC. DuckDB also accepts %z (offset), converted to UTC.
#}
{% macro parse_timestamp(expr, format) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'customer360')(expr, format)) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp(expr, format) -%}
    {%- set parsed = 'try_strptime(trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')), ' ~ customer360.sql_string_literal(format) ~ ')' -%}
    {%- if '%z' in format -%}
        timezone('UTC', {{ parsed }})
    {%- else -%}
        {{ customer360._fixed_width_guard(expr, format, 'cast(' ~ parsed ~ ' as timestamp)') }}
    {%- endif -%}
{%- endmacro %}

{% macro default__parse_timestamp(expr, format) -%}
    {%- set text = 'trim(cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ '))' -%}
    {%- set parts = customer360._strptime_parts(format) -%}
    {%- set year = customer360._strptime_field(text, parts, 'Y', none) -%}
    {%- set month = customer360._strptime_field(text, parts, 'm', none) -%}
    {%- set day = customer360._strptime_field(text, parts, 'd', none) -%}
    {%- set hour = customer360._strptime_field(text, parts, 'H', '0') -%}
    {%- set minute = customer360._strptime_field(text, parts, 'M', '0') -%}
    {%- set second = customer360._strptime_field(text, parts, 'S', '0') -%}
    {%- set fields = [] -%}
    {%- for value in [month, day, hour, minute, second] -%}
        {%- do fields.append(dbt.right(dbt.concat(["'0'", 'cast(' ~ value ~ ' as ' ~ dbt.type_string() ~ ')']), '2')) -%}
    {%- endfor -%}
    case
        when {{ customer360.regex_matches(text, parts.pattern) }} then
            case
                when {{ customer360.is_valid_calendar_date(year, month, day) }}
                    and {{ hour }} between 0 and 23 and {{ minute }} between 0 and 59 and {{ second }} between 0 and 59
                    then cast({{ dbt.concat([
                        'cast(' ~ year ~ ' as ' ~ dbt.type_string() ~ ')', "'-'", fields[0], "'-'", fields[1], "' '",
                        fields[2], "':'", fields[3], "':'", fields[4]
                    ]) }} as timestamp)
            end
    end
{%- endmacro %}


{# utc_now(): the current time as a UTC timestamp without time zone (compare with to_utc_timestamp output). #}
{% macro utc_now() -%}
    cast({{ dbt.current_timestamp() }} at time zone 'UTC' as timestamp)
{%- endmacro %}
