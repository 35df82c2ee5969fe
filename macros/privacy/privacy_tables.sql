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
