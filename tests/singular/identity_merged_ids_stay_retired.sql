-- A customer id that was merged into another is retired for good: no source record carries it now.
select
    merge_log.merged_customer_id,
    identities.source_system,
    identities.source_record_id
from {{ ref('customer_id_merges') }} as merge_log
inner join {{ ref('customer_identities') }} as identities on merge_log.merged_customer_id = identities.customer_id
