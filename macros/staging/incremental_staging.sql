{#
    Incremental staging over dlt loads (issue 16): a staging table whose rows each depend on one raw row
    (plus seeds, vars and the build time) re-stages only the raw rows that can have changed since the
    last build, and drops the rows whose raw row is gone. Three kinds of raw rows are redone:
    - rows of loads newer than the newest load the table holds (dlt stamps every upserted row with its
      load id, so a changed contact or order comes back with a new one; one load per source runs at a
      time and dlt commits loads in load-id order);
    - live rows whose key the table does not hold (a contact that became live without a new load: an
      archived contact a survivor now lists as merged; rows a previous build removed);
    - rows staged with a date then in the future (`future_date` is a verdict of the build time).
    A row whose raw row is no longer live (deleted, redacted, erased, archived) leaves through the
    model's post-hook, `delete_rows_gone_from_source`. A change to a seed or var read by the model needs
    `--full-refresh -s <model>+` (for Segment: of the lookup tables under stg_segment__events).
#}

{#
    staged_rows_to_redo(key_expr, staged_key, issue_columns): the where clause of an incremental run over
    the live raw rows (`_dlt_load_id` unqualified); key_expr is the raw row's key as the table stores it
    in column staged_key; issue_columns are the table's columns that can say 'future_date'.
#}
{% macro staged_rows_to_redo(key_expr, staged_key, issue_columns) -%}
    (
        {{ customer360.load_id_to_timestamp('_dlt_load_id') }} > (
            select coalesce(max(already_staged.loaded_at), {{ customer360.watermark_floor() }})
            from {{ this }} as already_staged
        )
        or {{ key_expr }} not in (select already_staged.{{ staged_key }} from {{ this }} as already_staged)
        or {{ key_expr }} in (
            select already_staged.{{ staged_key }}
            from {{ this }} as already_staged
            where
                {% for column in issue_columns -%}
                    already_staged.{{ column }} = 'future_date'{% if not loop.last %} or {% endif %}
                {%- endfor %}
        )
    )
{%- endmacro %}


{#
    delete_rows_gone_from_source(staged_key, live_rows_sql, key_expr): a post-hook: delete the table's rows
    whose key is not among the live raw rows (live_rows_sql, a select; key_expr its key as stored). A no-op
    on a fresh or full-refreshed table, which was built from the live rows only.
#}
{% macro delete_rows_gone_from_source(staged_key, live_rows_sql, key_expr) -%}
    delete from {{ this }}
    where {{ staged_key }} not in (
        select {{ key_expr }} from ({{ live_rows_sql }}) as live_rows where {{ key_expr }} is not null
    )
{%- endmacro %}


{# The HubSpot contacts staging keeps: not deleted, and not archived unless merged into a survivor. #}
{% macro hubspot_live_contacts() -%}
    select * from {{ customer360.source_if_loaded('hubspot', 'contacts') }}
    where
        cast(id as {{ dbt.type_string() }}) not in (
            select cast(deleted.id as {{ dbt.type_string() }})
            from {{ customer360.source_if_loaded('hubspot', 'deleted_contacts') }} as deleted
        )
        and (
            not coalesce(archived, false)
            or cast(id as {{ dbt.type_string() }}) in (
                select merge_pairs.merged_contact_id from {{ ref('stg_hubspot__contact_merges') }} as merge_pairs
            )
        )
{%- endmacro %}


{# The Shopify customers staging keeps: not deleted or redacted (customers/delete, customers/redact). #}
{% macro shopify_live_customers() -%}
    select * from {{ customer360.source_if_loaded('shopify', 'customers') }}
    where id not in (
        select deleted.record_id from {{ customer360.source_if_loaded('shopify', 'deleted_records') }} as deleted
        where deleted.record_type = 'customer'
    )
{%- endmacro %}


{# The Shopify orders staging keeps: not deleted, not of a deleted or redacted customer. #}
{% macro shopify_live_orders() -%}
    select * from {{ customer360.source_if_loaded('shopify', 'orders') }}
    where not {{ customer360.shopify_order_is_deleted('id', 'customer__id') }}
{%- endmacro %}
