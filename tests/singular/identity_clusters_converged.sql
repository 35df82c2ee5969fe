-- Label propagation ran var identity_label_propagation_passes passes; one more pass must change
-- nothing. A failure means a component is deeper than the passes reach: raise the var.
select record_key
from {{ ref('int_identity__clusters') }}
where not is_converged
