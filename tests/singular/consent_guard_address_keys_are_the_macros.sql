-- The suppression guard finds the owners of an opted-out address through int_identity__observations'
-- stored email_match_key: it must be the key the guard's own macro gives the address (email_match_key), or an
-- unsubscribe naming an address without a record of its own would miss a customer who holds it.
select
    observations.record_key,
    observations.email,
    observations.email_match_key
from {{ ref('int_identity__observations') }} as observations
where
    observations.email is not null
    and observations.email_match_key is distinct from {{ customer360.email_match_key('observations.email') }}
