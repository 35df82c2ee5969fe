{#
    The erasure audit tables dbt reads, created empty when no erasure request was ever recorded, so the
    project builds on any warehouse. `customer360 erase` (ingestion/privacy/erasure.py, DDL) owns and
    writes them; the columns here are the ones dbt reads and must stay a subset of that DDL.
#}
{% macro create_privacy_tables() -%}
    create schema if not exists privacy;
    create table if not exists privacy.erasure_blocks (
        run_id varchar not null,
        blocked_at timestamp with time zone not null,
        phase varchar not null,
        schema_name varchar not null,
        table_name varchar not null,
        rows_removed bigint not null
    );
    create table if not exists privacy.erased_identifiers (
        identifier_hash varchar not null,
        identifier_kind varchar not null,
        request_id varchar not null,
        origin varchar not null,
        added_at timestamp with time zone not null
    )
{%- endmacro %}


{#
    erasure_salt(): the session's erasure salt (null when the session has none); erasure_hash(kind, expr):
    the salted hash `customer360 erase` stores, sha256(salt | kind | value), of a value already normalized
    (emails lower case, trimmed). The salt is a session variable set by ingestion/privacy/dbt_plugin.py.
#}
{% macro erasure_salt() -%}
    {{ return(adapter.dispatch('erasure_salt', 'customer360')()) }}
{%- endmacro %}

{% macro duckdb__erasure_salt() -%}
    getvariable('customer360_erasure_salt')
{%- endmacro %}

{% macro default__erasure_salt() -%}
    current_setting('customer360.erasure_salt', true)
{%- endmacro %}

{% macro erasure_hash(kind, expr) -%}
    {{ customer360.sha256_hex(dbt.concat([customer360.erasure_salt(), "'|" ~ kind ~ "|'", expr])) }}
{%- endmacro %}

{% macro raise_error(message_sql) -%}
    {{ return(adapter.dispatch('raise_error', 'customer360')(message_sql)) }}
{%- endmacro %}

{% macro duckdb__raise_error(message_sql) -%}
    error({{ message_sql }})
{%- endmacro %}

{# PostgreSQL: casting the message to an integer fails with the message in the error text. #}
{% macro default__raise_error(message_sql) -%}
    (cast({{ message_sql }} as integer) = 0)
{%- endmacro %}
