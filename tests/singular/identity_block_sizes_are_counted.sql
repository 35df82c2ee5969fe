-- Every row's block_size is the number of records in its block: int_identity__block_keys keeps it up to date by
-- counting again only the blocks a build's touched records join or leave, so a block whose count drifted (a size
-- left stale, a marker row of the incremental strategy identity_replace_touched_rows that landed) fails here.
select
    rule_order,
    block_id,
    count(*) as records_in_block,
    min(block_size) as smallest_stated_size,
    max(block_size) as largest_stated_size
from {{ ref('int_identity__block_keys') }}
group by rule_order, block_id
having min(block_size) <> count(*) or max(block_size) <> count(*) or count(block_size) <> count(*)
