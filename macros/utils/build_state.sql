{#
    forget_build_state(): on-run-start. Every dbt command but the read-only ones deletes the record of the last
    complete build (build_state.last_complete_build, filled by ingestion/build_state.py after one succeeds), so a
    failed, partial or hand-run build (run, seed, snapshot, clone, retry ...) leaves none and the next
    `customer360 build --changed` builds everything: it never trusts tables this command may have left half done.
    The table is made here (no existence check: a relation lookup would open a transaction that dbt rolls back
    after the hook).
#}
{% macro forget_build_state() -%}
    create schema if not exists build_state;
    create table if not exists build_state.last_complete_build (
        item {{ dbt.type_string() }} primary key,
        fingerprint {{ dbt.type_string() }} not null,
        rebuilt_all_at {{ dbt.type_timestamp() }} not null
    )
    {%- if flags.WHICH not in ('test', 'compile', 'show', 'list', 'ls', 'generate', 'parse', 'freshness', 'debug') %};
    delete from build_state.last_complete_build
    {%- endif %}
{%- endmacro %}
