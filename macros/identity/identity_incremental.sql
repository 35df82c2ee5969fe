{#
    delete_pairs_no_longer_candidates(candidate_pairs): the post-hook of int_identity__pair_comparisons: delete the
    compared pairs that are not among the candidate pairs any more (a record departed, a block grew past its cap, the
    records joined one strong cluster). A no-op on a fresh or full-refreshed table, built from the candidates only.
#}
{% macro delete_pairs_no_longer_candidates(candidate_pairs) -%}
    delete from {{ this }}
    where not exists (
        select 1
        from {{ candidate_pairs }} as candidates
        where
            candidates.record_id_a = {{ this }}.record_id_a
            and candidates.record_id_b = {{ this }}.record_id_b
    )
{%- endmacro %}
