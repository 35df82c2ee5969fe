{#
    Connected components by iterative min-label propagation, as a chain of CTEs.

    Input: a CTE/relation `edges` with integer columns node_a, node_b (either direction is enough).
    Output: CTEs named <prefix>_labels (node_id, component_id, is_converged) covering every node that
    has an edge; component_id is the smallest node id in the component.

    Each pass does two set-based steps:
      1. every node takes the smallest label among itself and its neighbours;
      2. pointer jumping: every node takes the label of its label (its label is a node of the same
         component with a smaller id), which roughly halves the remaining distance.
    So `passes` passes settle components whose diameter is far beyond 2^passes in practice; one more
    pass is computed and compared: is_converged is false for any node whose label would still change,
    and the singular test identity_clusters_converged fails the build if one exists (raise
    var identity_label_propagation_passes then).
#}

{% macro identity_label_propagation(edges, passes, prefix='cc') -%}
    {{ prefix }}_undirected as (
        select node_a, node_b from {{ edges }} where node_a <> node_b
        union
        select node_b as node_a, node_a as node_b from {{ edges }} where node_a <> node_b
    ),

    {{ prefix }}_pass_0 as (
        select node_a as node_id, min(node_b) as label
        from {{ prefix }}_undirected
        group by node_a
    ),

    {{ prefix }}_jump_0 as (
        select
            pass.node_id,
            least(pass.label, pass.node_id) as label
        from {{ prefix }}_pass_0 as pass
    ),

    {%- for i in range(1, passes + 2) %}

    {{ prefix }}_pass_{{ i }} as (
        select
            node.node_id,
            least(node.label, min(neighbour.label)) as label
        from {{ prefix }}_jump_{{ i - 1 }} as node
        inner join {{ prefix }}_undirected as edge on node.node_id = edge.node_a
        inner join {{ prefix }}_jump_{{ i - 1 }} as neighbour on edge.node_b = neighbour.node_id
        group by node.node_id, node.label
    ),

    {{ prefix }}_jump_{{ i }} as (
        select
            pass.node_id,
            least(pass.label, jumped.label) as label
        from {{ prefix }}_pass_{{ i }} as pass
        inner join {{ prefix }}_pass_{{ i }} as jumped on pass.label = jumped.node_id
    ),
    {%- endfor %}

    {{ prefix }}_labels as (
        -- Pass passes+1 is the convergence check: nothing may move any more.
        select
            settled.node_id,
            settled.label as component_id,
            settled.label = check_pass.label as is_converged
        from {{ prefix }}_jump_{{ passes }} as settled
        inner join {{ prefix }}_jump_{{ passes + 1 }} as check_pass on settled.node_id = check_pass.node_id
    )
{%- endmacro %}
