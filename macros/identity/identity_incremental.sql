{#
    identity_logic_fingerprint(sql_text): an SQL expression naming the logic that wrote an incremental identity row:
    the md5 of the model's rendered SQL (its macros and the vars they render) and, on DuckDB, the engine's version
    (an upgrade may change what a function such as strip_accents or a regex returns for the same SQL). A row written
    by other logic is redone.
#}
{% macro identity_logic_fingerprint(sql_text) -%}
    {{ return(adapter.dispatch('identity_logic_fingerprint', 'customer360')(sql_text)) }}
{%- endmacro %}

{% macro duckdb__identity_logic_fingerprint(sql_text) -%}
    ('{{ local_md5(sql_text) }}@' || version())
{%- endmacro %}

{% macro default__identity_logic_fingerprint(sql_text) -%}
    '{{ local_md5(sql_text) }}'
{%- endmacro %}


{#
    Incremental strategy identity_replace_touched_pairs (int_identity__scored_pairs): the model's rows are the pairs
    of the records a build touched, plus one marker row per touched record (record_id_a = record_id_b). Every
    stored pair of a marked record is deleted, then the pairs are inserted; the markers never land. Both statements
    run in the model's transaction, so a crash leaves the stored pairs as they were.
#}
{% macro get_incremental_identity_replace_touched_pairs_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where
        record_id_a in (select touched.record_id_a from {{ source }} as touched where touched.record_id_a = touched.record_id_b)
        or record_id_b in (select touched.record_id_a from {{ source }} as touched where touched.record_id_a = touched.record_id_b);
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }} where record_id_a <> record_id_b
{%- endmacro %}


{#
    Incremental strategy identity_replace_touched_rows (int_identity__block_keys, int_identity__identifiers,
    int_identity__deterministic_edges), steered by three model configs:
    - `touched_by`: the column naming what a build touched (a record, or an identifier's value);
    - `marker_column`: a column null only on marker rows, one per touched unit: every stored row of a marked unit is
      deleted, and markers never land;
    - `rewritten_by` (optional): the columns naming one row; a stored row the model gives again (a kept row of an
      untouched unit whose count moved) is deleted before the model's rows are inserted.
    All in the model's transaction, so a crash leaves the stored rows as they were.
#}
{% macro get_incremental_identity_replace_touched_rows_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set touched_by = config.require('touched_by') -%}
    {%- set marker_column = config.require('marker_column') -%}
    {%- set rewritten_by = config.get('rewritten_by', []) -%}
    delete from {{ target }}
    where {{ touched_by }} in (
        select touched.{{ touched_by }} from {{ source }} as touched where touched.{{ marker_column }} is null
    );
    {%- if rewritten_by %}
        delete from {{ target }} as stored
        using {{ source }} as rewritten
        where
            rewritten.{{ marker_column }} is not null
            {%- for column in rewritten_by %}
                and stored.{{ column }} = rewritten.{{ column }}
            {%- endfor %};
    {%- endif %}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }} where {{ marker_column }} is not null
{%- endmacro %}


{#
    Incremental strategy identity_replace_all (int_identity__match_parameters, int_identity__u_probabilities,
    int_identity__training_patterns): the model's rows replace the whole table in one transaction. The model decides
    whether they are the stored rows again or newly learnt ones; an incremental model (rather than a table) so that
    `--full-refresh` always learns anew.
#}
{% macro get_incremental_identity_replace_all_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }};
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}


{#
    identity_models_code(model_names): the source text of the named models of this project, joined (from dbt's graph at
    execution; empty while parsing), for a logic fingerprint that must see models upstream of the one it is in.
#}
{% macro identity_models_code(model_names) -%}
    {%- set texts = [] -%}
    {%- if execute -%}
        {%- for name in model_names -%}
            {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
            {%- if node is none -%}
                {{ exceptions.raise_compiler_error('identity_models_code: no model named ' ~ name) }}
            {%- endif -%}
            {%- do texts.append(node.raw_code) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(texts | join('\n')) }}
{%- endmacro %}


{#
    The frozen parameters' learning rule, one text for int_identity__match_parameters (which learns or keeps) and
    the models that learn (block caps, u counts, training patterns), which keep their rows too when nothing is due.
    identity_learning_fingerprint(): what the values are learnt by (the parameters model and the models that learn,
    the comparison and blocking macros they render, the vars that steer them), as an SQL expression.
#}
{% macro identity_learning_fingerprint() -%}
    {{ return(customer360.identity_logic_fingerprint(
        customer360.identity_models_code([
            'int_identity__match_parameters', 'int_identity__block_keys', 'int_identity__block_size_caps',
            'int_identity__u_probabilities', 'int_identity__training_patterns', 'int_identity__match_weight_estimates'
        ])
        ~ customer360.identity_comparison_features('a', 'b')
        ~ customer360.identity_comparison_levels()
        ~ customer360.identity_dates_within_a_slip('a', 'b')
        ~ customer360.identity_blocking_keys('records', ['record_id'])
        ~ tojson([
            customer360.identity_comparison_names(), customer360.identity_term_frequency_columns(),
            var('identity_match_weights_source'), var('identity_blocking_rules'), var('identity_max_block_size'),
            var('identity_max_pairs_per_record'), var('identity_u_sample_records'), var('identity_em_training_blocks'),
            var('identity_em_max_pairs_per_block'), var('identity_em_max_iterations'), var('identity_em_tolerance'),
            var('identity_min_pairs_for_estimate'), var('identity_name_similarity_high'),
            var('identity_name_similarity_low')
        ])
    )) }}
{%- endmacro %}


{#
    identity_learning_ctes(in_force): the CTEs the rule reads, over CTEs the caller names records, match_weight_seed
    and erasures (and in_force, the stored parameters, when in_force is true): current_record_count, learning_logic
    (the fingerprint, the seed's rows, the last erasure: the term frequencies hold names, and an erased person's name
    leaves with the next build) and in_force_set. Each ends with a comma.
#}
{% macro identity_learning_ctes(in_force) -%}
    current_record_count as (
        select count(*) as records from records
    ),

    learning_logic as (
        select
            concat_ws(
                '|',
                {{ customer360.identity_learning_fingerprint() }},
                coalesce(
                    cast(
                        {{ customer360.identity_rows_fingerprint(customer360.identity_row_hash('match_weight_seed')) }}
                        as {{ dbt.type_string() }}
                    ),
                    ''
                ),
                coalesce(cast((select max(erasures.blocked_at) from erasures) as {{ dbt.type_string() }}), '')
            ) as learning_fingerprint
        from match_weight_seed
    ),
    {%- if in_force %}

    in_force_set as (
        -- one stamp on every row, or the set is not one learning (a null, or two stamps): learnt again
        select
            count(*) as parameter_rows,
            max(records_when_learnt) as records_when_learnt,
            max(learning_fingerprint) as learning_fingerprint,
            count(records_when_learnt) = count(*)
            and count(learning_fingerprint) = count(*)
            and coalesce(min(records_when_learnt) = max(records_when_learnt), true)
            and coalesce(min(learning_fingerprint) = max(learning_fingerprint), true) as is_one_learning
        from in_force
    ),
    {%- endif %}
{%- endmacro %}


{#
    identity_learning_due(levels_moved): true when the values must be learnt again, over in_force_set,
    current_record_count and learning_logic: nothing is in force; or, with records (or an erasure), the learning
    fingerprint differs, the comparison levels moved (levels_moved: an SQL condition), the records grew or shrank by
    more than var identity_parameters_relearn_share since the values were learnt (0: at every build), or the stored rows
    are not one learning (a null stamp, or two stamps). Never from no records while values are in force (dbt's --empty, which reads no
    erasure either) unless an erasure removed them all.
#}
{% macro identity_learning_due(levels_moved) -%}
    {%- set relearn_share = var('identity_parameters_relearn_share') -%}
    in_force_set.parameter_rows = 0
    or (
        (current_record_count.records > 0 or (select count(*) from erasures) > 0)
        and coalesce(
            not in_force_set.is_one_learning
            or in_force_set.learning_fingerprint <> learning_logic.learning_fingerprint
            or {{ levels_moved }}
            or abs(current_record_count.records - in_force_set.records_when_learnt)
            > {{ relearn_share }} * in_force_set.records_when_learnt
            {%- if relearn_share == 0 %}
                or true
            {%- endif %},
            true
        )
    )
{%- endmacro %}


{#
    identity_learning_is_due(): for a model that learns (int_identity__block_size_caps, int_identity__u_probabilities,
    int_identity__training_patterns), whether int_identity__match_parameters will learn in this build, asked before it
    runs (its stored rows are last build's). True when the model is not incremental this run (or is a unit test's),
    when the parameters table, the seed or the erasures are missing, when the parameters are not a table (the
    parameters model would then build whole, and learn) or lack the columns the rule reads, and
    when the answer is anything but a clear false: a model that learns in vain costs time, one that keeps stale rows
    while the parameters learn would teach them old values. The comparison levels (known only after the EM) cannot
    have moved when every model that learns kept its rows. Reads its relations with ref()/source() before anything
    else, so that dbt records them as the model's parents while parsing.
#}
{% macro identity_learning_is_due() -%}
    {%- set records_relation = ref('int_identity__source_records') -%}
    {%- set seed_relation = ref('identity_match_weights') -%}
    {%- set erasures_relation = source('privacy', 'erasure_blocks') -%}
    {%- if not execute or model.resource_type == 'unit_test' or not is_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set parameters_node = graph.nodes.get('model.' ~ project_name ~ '.int_identity__match_parameters') -%}
    {%- if parameters_node is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set in_force_relation = adapter.get_relation(
        database=parameters_node.database, schema=parameters_node.schema, identifier=parameters_node.alias
    ) -%}
    {%- if in_force_relation is none
        or not in_force_relation.is_table
        or load_relation(seed_relation) is none
        or load_relation(erasures_relation) is none -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set in_force_columns = adapter.get_columns_in_relation(in_force_relation) | map(attribute='name') | list -%}
    {%- if 'records_when_learnt' not in in_force_columns or 'learning_fingerprint' not in in_force_columns -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set due_query -%}
        with
        records as (select * from {{ records_relation }}),
        match_weight_seed as (select * from {{ seed_relation }}),
        erasures as (select * from {{ erasures_relation }}),
        in_force as (select * from {{ in_force_relation }}),
        {{ customer360.identity_learning_ctes(true) }}
        answer as (
            select {{ customer360.identity_learning_due('false') }} as is_due
            from in_force_set
            cross join current_record_count
            cross join learning_logic
        )
        select is_due from answer
    {%- endset -%}
    {%- set answer = run_query(due_query) -%}
    {%- set values = answer.columns[0].values() if answer is not none else [] -%}
    {{ return(not (values | length == 1 and values[0] is sameas false)) }}
{%- endmacro %}


{#
    identity_moved_records(current, stored, unit='record_id'): a select of the units (records) whose (unit, record_state)
    is in one of the two relations and not in the other: changed records, new ones and records that left (the
    symmetric difference). What an incremental identity model redoes (int_identity__block_keys,
    int_identity__identifiers, int_identity__scored_pairs); none under dbt's --empty.
#}
{% macro identity_moved_records(current, stored, unit='record_id') -%}
{%- if customer360.is_empty_run() -%}
-- dbt's --empty reads no records: nothing moved, and the stored rows stay as dbt's own incremental models keep theirs
select {{ unit }} from {{ current }} where false
{%- else -%}
select {{ unit }}
from (
    (
        select
            {{ unit }},
            record_state
        from {{ current }}
        except
        select
            {{ unit }},
            record_state
        from {{ stored }}
    )
    union all
    (
        select
            {{ unit }},
            record_state
        from {{ stored }}
        except
        select
            {{ unit }},
            record_state
        from {{ current }}
    )
) as moved
group by {{ unit }}
{%- endif -%}
{%- endmacro %}


{#
    identity_touched(current, stored, has_states, unit='record_id'): a select of the units (records) an incremental
    identity model redoes. Not incremental: every unit of `current`. Incremental with stored states: the moved ones
    (identity_moved_records). Incremental over a table from before the states existed: every unit of either side.
#}
{% macro identity_touched(current, stored, has_states, unit='record_id') -%}
{%- if not is_incremental() -%}
select {{ unit }} from {{ current }}
{%- elif has_states -%}
{{ customer360.identity_moved_records(current, stored, unit) }}
{%- else -%}
select {{ unit }} from {{ current }}
union
select {{ unit }} from {{ stored }}
{%- endif -%}
{%- endmacro %}


{#
    identity_stored_group_members(stored, group_column, seeds): a select of the records in `seeds` (record_id) and of
    every record `stored` puts in the same group (`group_column`) as one of them: the groups an incremental cluster
    model makes again whole (int_identity__strong_clusters, int_identity__clusters).
#}
{% macro identity_stored_group_members(stored, group_column, seeds) -%}
select record_id from {{ seeds }}
union
select stored_members.record_id
from {{ stored }} as stored_members
inner join {{ stored }} as seed_members
    on stored_members.{{ group_column }} = seed_members.{{ group_column }}
inner join {{ seeds }} on seed_members.record_id = {{ seeds }}.record_id
{%- endmacro %}


{#
    identity_learnt_or_kept(learning_is_due): the final select of a model that learns: its CTE learnt when the
    parameters learn in this build, its stored rows (CTE learnt_before) otherwise.
#}
{% macro identity_learnt_or_kept(learning_is_due) -%}
    {%- if learning_is_due -%}
        select * from learnt
    {%- else -%}
        select * from learnt_before
    {%- endif -%}
{%- endmacro %}
