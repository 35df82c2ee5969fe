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
    model's post-hook, `delete_rows_gone_from_source`. A change to a seed or var read by the model redoes
    every row (staged_lookups_fingerprint, kept on each row); Segment's chain still needs
    `--full-refresh` of the lookup tables under stg_segment__events after a seed change.
#}

{#
    staged_rows_to_redo(key_expr, staged_key_expr, issue_columns, load_id_expr='_dlt_load_id'): the where
    clause of an incremental run over the live raw rows; key_expr is the raw row's key as the table stores it,
    staged_key_expr the same key over the table's rows (alias already_staged); issue_columns are the table's
    columns that can say 'future_date'; load_id_expr the raw row's dlt load id. Every row is redone when the
    table's lookups_fingerprint differs from staged_lookups_fingerprint() (a seed or var changed) or the
    table has no such column yet.
#}
{% macro staged_rows_to_redo(key_expr, staged_key_expr, issue_columns, load_id_expr='_dlt_load_id') -%}
    {%- set staged_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    (
        -- every row when a seed or var staging reads changed (or the table predates the column that says)
        {% if 'lookups_fingerprint' in staged_columns -%}
            exists (
                select 1 from {{ this }} as already_staged
                where already_staged.lookups_fingerprint is distinct from {{ customer360.staged_lookups_fingerprint() }}
            )
        {%- else -%}
            true
        {%- endif %}
        or
        {{ customer360.load_id_to_timestamp(load_id_expr) }} > (
            select coalesce(max(already_staged.loaded_at), {{ customer360.watermark_floor() }})
            from {{ this }} as already_staged
        )
        or {{ key_expr }} not in (select {{ staged_key_expr }} from {{ this }} as already_staged)
        or {{ key_expr }} in (
            select {{ staged_key_expr }}
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
    {%- if customer360.is_empty_run() -%}
        {#- dbt's --empty reads no source row: nothing is gone, and the stored rows stay -#}
        select 1
    {%- else -%}
        delete from {{ this }}
        where {{ staged_key }} not in (
            select {{ key_expr }} from ({{ live_rows_sql }}) as live_rows where {{ key_expr }} is not null
        )
    {%- endif -%}
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


{#
    staged_lookups_fingerprint(): one text value that changes when a seed the model reads (every seed in its
    dependencies, all rows and columns) or a var staging reads changes. An incremental staging model keeps it
    on each staged row and stages again the rows staged with other lookups: a consent value the seed now maps
    otherwise must not stay as it was staged.
#}
{% macro staged_lookups_fingerprint() -%}
    {%- set parts = [] -%}
    {%- for var_name in ['csv_datetime_formats', 'default_phone_country', 'staging_future_grace_days',
        'staging_max_text_length'] -%}
        {%- do parts.append(customer360.sql_string_literal(var_name ~ '=' ~ tojson(var(var_name)))) -%}
    {%- endfor -%}
    {%- if execute -%}
        {%- for node_id in model.depends_on.nodes | sort if node_id.startswith('seed.') -%}
            {%- set seed = ref(node_id.split('.')[-1]) -%}
            {%- set columns = adapter.get_columns_in_relation(seed) | map(attribute='name') | sort -%}
            {#- no columns: the seed is not in the warehouse yet (a compile or lint before `dbt seed`) -#}
            {%- if not columns -%}{%- continue -%}{%- endif -%}
            {%- set as_text = [] -%}
            {%- for column in columns -%}
                {%- do as_text.append("cast(" ~ column ~ " as " ~ dbt.type_string() ~ ") as " ~ column) -%}
            {%- endfor -%}
            {%- do parts.append(
                "coalesce((select "
                ~ dbt.hash(customer360.sorted_text_agg(customer360.values_key(columns, 'seed_rows'), "'|'"))
                ~ " from (select " ~ as_text | join(", ") ~ " from " ~ seed ~ ") as seed_rows), '')"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {#- a scalar subquery: evaluated once per query, not once per row the value is compared with -#}
    (select {{ dbt.hash(dbt.concat(parts)) }})
{%- endmacro %}
