{{ config(severity='warn') }}
-- A blocking key shared by more than var identity_max_block_size records is not compared under its
-- rule (n^2 pairs): the other rules may still bring its records together, but its pairs are lost to
-- that rule. Never silently: this warns with the rule, the blocks and the records they held
-- (int_identity__blocking_rule_pairs). Make the rule's key more specific, or raise the var.
-- Blocks left by the pairs budget alone (var identity_max_pairs_per_record) are counted there too,
-- as blocks_skipped; they are the budget working, not a key that is never specific enough, unless the
-- budget leaves a rule nothing to compare (block_size_cap 1): that warns too.
select
    blocking_rule,
    blocks_over_max_size,
    blocks_skipped,
    block_size_cap,
    records_in_skipped_blocks
from {{ ref('int_identity__blocking_rule_pairs') }}
where blocks_over_max_size > 0 or (block_size_cap = 1 and records_keyed > 0)
