{#
    guard_plausible_timestamp(ts, loaded_at): the guard's own check that a source could really have given
    `ts` (between `consent_earliest_valid_timestamp` and the row's load plus `consent_max_clock_skew_minutes`),
    else null. Written apart from the ledger's consent_timestamp_if_plausible on purpose: the guard is a
    second implementation.
#}
{% macro guard_plausible_timestamp(ts, loaded_at) -%}
    case
        when {{ ts }} between cast('{{ var("consent_earliest_valid_timestamp") }}' as {{ dbt.type_timestamp() }})
            and {{ dbt.dateadd('minute', var('consent_max_clock_skew_minutes'), loaded_at) }}
            then {{ ts }}
    end
{%- endmacro %}


{#
    suppression_guard_block_reason(customer_guard, address_guard): why the suppression guard blocks an
    activated (customer, address), or null. The arguments are aliases of `int_engagement__suppression_guard`
    left-joined on subject 'customer' = the customer id and on subject 'address' = the address's
    email_match_key (macro suppression_guard_joins). An opt-out of either subject stands unless a valid
    opt-in of either subject is strictly later (at the same instant the opt-out stands).
#}
{% macro suppression_guard_block_reason(customer_guard, address_guard) -%}
    {%- set last_opt_out -%}
        case
            when {{ address_guard }}.last_opt_out_at is null then {{ customer_guard }}.last_opt_out_at
            when {{ customer_guard }}.last_opt_out_at is null then {{ address_guard }}.last_opt_out_at
            when {{ address_guard }}.last_opt_out_at > {{ customer_guard }}.last_opt_out_at
                then {{ address_guard }}.last_opt_out_at
            else {{ customer_guard }}.last_opt_out_at
        end
    {%- endset -%}
    {%- set last_opt_in -%}
        case
            when {{ address_guard }}.last_valid_opt_in_at is null then {{ customer_guard }}.last_valid_opt_in_at
            when {{ customer_guard }}.last_valid_opt_in_at is null then {{ address_guard }}.last_valid_opt_in_at
            when {{ address_guard }}.last_valid_opt_in_at > {{ customer_guard }}.last_valid_opt_in_at
                then {{ address_guard }}.last_valid_opt_in_at
            else {{ customer_guard }}.last_valid_opt_in_at
        end
    {%- endset -%}
    case
        {# a person erased on request (int_engagement__erasure_guard, joined by suppression_guard_joins) #}
        when
            erased_address.identifier_hash is not null or erased_customer.identifier_hash is not null
            or not erasure_check.is_salt_set
            then 'erased'
        when {{ address_guard }}.is_undeliverable then 'undeliverable'
        when ({{ last_opt_out }}) is not null and (({{ last_opt_in }}) is null or ({{ last_opt_in }}) <= ({{ last_opt_out }}))
            then 'unsubscribed'
    end
{%- endmacro %}


{#
    suppression_guard_ctes(): the import CTEs suppression_guard_joins reads, to put first in the `with` of
    every query that calls it. The guard views are read live from the raw data on each query; joined as
    two subjects (and the erasure guard three times) they were computed once per join: as CTEs each is
    computed once per query (materialized_cte), a third less time per read of an activation view.
#}
{% macro suppression_guard_ctes() -%}
    c360_suppression_guard as {{ customer360.materialized_cte() }} (
        select * from {{ ref('int_engagement__suppression_guard') }}
    ),

    c360_erasure_guard as {{ customer360.materialized_cte() }} (
        select * from {{ ref('int_engagement__erasure_guard') }}
    ),
{%- endmacro %}


{#
    suppression_guard_joins(customer_id_expr, email_expr, customer_guard, address_guard): the left joins
    suppression_guard_block_reason reads (the guard's two subjects, and the erasure guard's address and
    customer as erased_address / erased_customer), over the CTEs of suppression_guard_ctes().
#}
{% macro suppression_guard_joins(customer_id_expr, email_expr, customer_guard='customer_guard', address_guard='address_guard') -%}
    left join c360_suppression_guard as {{ customer_guard }}
        on {{ customer_guard }}.subject_kind = 'customer' and {{ customer_guard }}.subject_key = {{ customer_id_expr }}
    left join c360_suppression_guard as {{ address_guard }}
        on
            {{ address_guard }}.subject_kind = 'address'
            and {{ address_guard }}.subject_key = {{ customer360.email_match_key(email_expr) }}
    {#- evaluates the erasure guard's salt check on every read (raises when erasures exist without the salt) #}
    cross join (
        select coalesce(bool_and(is_salt_set), true) as is_salt_set
        from c360_erasure_guard
    ) as erasure_check
    left join c360_erasure_guard as erased_address
        on
            erased_address.identifier_kind = 'email'
            and erased_address.identifier_hash = {{ customer360.erasure_hash('email', 'lower(trim(' ~ email_expr ~ '))') }}
    left join c360_erasure_guard as erased_customer
        on
            erased_customer.identifier_kind = 'customer'
            and erased_customer.identifier_hash = {{ customer360.erasure_hash('customer', customer_id_expr) }}
{%- endmacro %}


{#
    export_safe_text(expr): a text value safe to open in a spreadsheet. A value starting with = + - @
    (or a tab / carriage return before one) is a formula to Excel, Sheets and LibreOffice
    (=HYPERLINK(...) exfiltrates data): it is prefixed with a single quote, OWASP's CSV-injection
    advice, so it shows as text. Every other value passes unchanged.
#}
{% macro export_safe_text(expr) -%}
    case
        when {{ customer360.regex_matches(expr, '^[[:space:]]*[=+@-]') }} then {{ dbt.concat(["''''", expr]) }}
        else {{ expr }}
    end
{%- endmacro %}


{#
    guard_readable_text(expr): text as the guard searches it for addresses: NUL bytes (a UTF-16 file) and
    the literal "\x00" the loader writes for them removed; JSON's \u0040 / \u002e escapes turned back into "@"
    and "."; look-alike and invisible characters folded as staging's emails fold them (fold_look_alike_characters).
    A look-alike character must not hide an address from an unsubscribe (hostile pass, round 21). Portable (chr,
    replace, translate).
#}
{% macro guard_readable_text(expr) -%}
    {#- folded first: the fold names its text three times (an ASCII test, then the text or its translation), so it
        takes the caller's expression, not the chain of replace() below (a removed invisible character can also join
        an escape such as \u0040, which is then read) -#}
    {%- set folded = customer360.fold_look_alike_characters('cast(' ~ expr ~ ' as ' ~ dbt.type_string() ~ ')') -%}
    {%- set state = namespace(text='replace(' ~ folded ~ ', chr(0), \'\')') -%}
    {%- for literal, replacement in [('\\x00', ''), ('\\u0040', '@'), ('\\U0040', '@'), ('\\u002e', '.'),
        ('\\u002E', '.')] -%}
        {%- set state.text = 'replace(' ~ state.text ~ ', \'' ~ literal ~ '\', \'' ~ replacement ~ '\')' -%}
    {%- endfor -%}
    {{ state.text }}
{%- endmacro %}


{#
    guard_timestamp_readings(expr, prefix): one column per format of var('csv_datetime_formats'), `<prefix>_1` ...,
    each the text read by that format, null when that format does not read it. The guard's own reading of a date or
    time a CSV drop wrote, apart from staging's per-drop format detection on purpose (a second implementation).
    Written in a CTE step of its own: guard_unambiguous_reading and guard_plausible_readings then name the columns
    (each writing the readings inline repeated every format's parse wherever a reading was compared: 73 kB of
    rendered SQL in the guard's view).
#}
{% macro guard_timestamp_readings(expr, prefix) -%}
    {%- for format in var('csv_datetime_formats') -%}
        {%- if format == 'iso' -%}
            {%- set reading = customer360.to_utc_timestamp("nullif(trim(" ~ expr ~ "), '')") -%}
        {%- else -%}
            {%- set reading = customer360.parse_timestamp("nullif(trim(" ~ expr ~ "), '')", format) -%}
        {%- endif %}
        {{ reading }} as {{ prefix }}_{{ loop.index }}
        {{- ',' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#
    guard_reading_columns(relation, prefix): the names of the guard_timestamp_readings columns,
    `<relation>.<prefix>_1` ..., one per format of var('csv_datetime_formats'), as a list.
#}
{% macro guard_reading_columns(relation, prefix) -%}
    {%- set columns = [] -%}
    {%- for format in var('csv_datetime_formats') -%}
        {%- do columns.append(relation ~ '.' ~ prefix ~ '_' ~ loop.index) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}


{#
    guard_unambiguous_reading(relation, prefix): of the guard_timestamp_readings columns `<relation>.<prefix>_1` ...,
    the one that read the text, else null (no format, or several that could mean different days: 03/05/2025). An
    unreadable date only costs an opt-in its power to lift an opt-out (a suppression is dated by
    guard_latest_reading, else at the load time).
#}
{% macro guard_unambiguous_reading(relation, prefix) -%}
    {%- set readings = customer360.guard_reading_columns(relation, prefix) -%}
    case
        when (
            {%- for reading in readings %}
            case when {{ reading }} is not null then 1 else 0 end{{ ' +' if not loop.last }}
            {%- endfor %}
        ) = 1
            then coalesce({{ readings | join(', ') }})
    end
{%- endmacro %}


{#
    guard_plausible_readings(relation, prefix, loaded_at, as_prefix): the guard_timestamp_readings columns
    `<relation>.<prefix>_1` ... as columns `<as_prefix>_1` ..., each null when it cannot be meant: before
    `consent_earliest_valid_timestamp`, or after the load by more than `consent_max_clock_skew_minutes` plus
    `consent_max_local_time_ahead_minutes` (a source writing local time ahead of UTC). A reading after the
    load but within that window is read as the load. guard_latest_reading takes the latest of them: an
    opt-out written 03/05/2025 counts from May 3, the later day it can mean, rather than from the load (which
    outdated every later opt-in: at 1M people the guard and the ledger then disagreed on 6 addresses and
    failed the build). A reading days in the future is a misreading (07/12 read as Dec 7, loaded Dec 4).
#}
{% macro guard_plausible_readings(relation, prefix, loaded_at, as_prefix) -%}
    {%- set latest_meant = dbt.dateadd(
        'minute', var('consent_max_clock_skew_minutes') + var('consent_max_local_time_ahead_minutes'), loaded_at
    ) -%}
    {%- for reading in customer360.guard_reading_columns(relation, prefix) %}
        case
            when {{ reading }} < cast('{{ var("consent_earliest_valid_timestamp") }}' as {{ dbt.type_timestamp() }})
                then null
            when {{ reading }} > {{ latest_meant }} then null
            when {{ reading }} > {{ loaded_at }} then {{ loaded_at }}
            else {{ reading }}
        end as {{ as_prefix }}_{{ loop.index }}
        {{- ',' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#
    guard_latest_reading(relation, prefix, pick='greatest'): the latest non-null of the
    guard_plausible_readings columns `<relation>.<prefix>_1` ..., null when all are null; pick='least' gives
    the earliest (two that differ: the text is ambiguous). default__: each argument of `greatest` / `least` falls
    back to the other readings, so a null reading never nulls the result on engines that return null for any null
    (13 x 13 column names per call); DuckDB skips nulls itself.
#}
{% macro guard_latest_reading(relation, prefix, pick='greatest') -%}
    {{ return(adapter.dispatch('guard_latest_reading', 'customer360')(relation, prefix, pick)) }}
{%- endmacro %}

{#- DuckDB's greatest / least skip nulls (null only when all are): the columns as they are. -#}
{% macro duckdb__guard_latest_reading(relation, prefix, pick) -%}
    {{ pick }}({{ customer360.guard_reading_columns(relation, prefix) | join(', ') }})
{%- endmacro %}

{% macro default__guard_latest_reading(relation, prefix, pick) -%}
    {%- set columns = customer360.guard_reading_columns(relation, prefix) -%}
    {%- if columns | length == 1 -%}
        {{ columns[0] }}
    {%- else -%}
        {{ pick }}(
            {%- for column in columns %}
            coalesce({{ column }}, {{ (columns | reject('equalto', column) | list) | join(', ') }})
            {{- ',' if not loop.last }}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}
