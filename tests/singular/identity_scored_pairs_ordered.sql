-- Every scored pair is stored once, lower record_id first: a row with record_id_a >= record_id_b is a pair written
-- the wrong way round or a marker row of the incremental strategy (identity_replace_touched_pairs) that landed.
select
    record_id_a,
    record_id_b
from {{ ref('int_identity__scored_pairs') }}
where record_id_a >= record_id_b
