{{ config(severity='warn') }}
-- A blocking key shared by more than var identity_max_block_size records is not compared under its
-- rule (n^2 pairs): the other rules may still bring its records together, but its pairs are lost to
-- that rule. Never silently: this warns with the rule, the blocks and the records they held
-- (int_identity__blocking_rule_pairs). Make the rule's key more specific, or raise the var.
-- Blocks left by the pairs budget (var identity_max_pairs_per_record) are counted there too, as
-- blocks_skipped: the budget working. It warns as well when they hold more than var
-- identity_warn_share_of_records_skipped of the records a rule keys: the rule then compares few of them.
select
    blocking_rule,
    blocks_over_max_size,
    blocks_skipped,
    block_size_cap,
    records_in_skipped_blocks
from {{ ref('int_identity__blocking_rule_pairs') }}
where
    blocks_over_max_size > 0
    or records_in_skipped_blocks > {{ var('identity_warn_share_of_records_skipped') }} * records_keyed
