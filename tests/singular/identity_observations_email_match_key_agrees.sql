-- Every observation with an address carries email_match_key() of that address, the key the suppression guard reads
-- (int_engagement__suppression_guard's address owners): a source whose staging left the key out or computed it
-- from another value would tie an unsubscribed address to no customer.
select
    source_system,
    source_record_id,
    email,
    email_match_key
from {{ ref('int_identity__observations') }}
where
    email is not null
    and email_match_key is distinct from {{ customer360.email_match_key('email') }}
