{{ config(severity='warn') }}
-- The matcher's EM (int_identity__match_weight_estimates) must converge: parameters that still moved
-- more than var identity_em_tolerance after var identity_em_max_iterations iterations are not a fit.
-- A warning, not an error: the weights are still usable, but check them (trained_in says which
-- training block did not converge) and raise identity_em_max_iterations. A prior that no training
-- block could check (m_from 'default': e.g. no dates of birth and no full names to block on) warns too.
select
    comparison,
    level,
    m_from,
    trained_in,
    em_iterations,
    case
        when not em_converged then 'EM did not converge: raise var identity_em_max_iterations'
        else 'prior not learnt: no two training blocks could check each other (see var identity_em_training_blocks)'
    end as problem
from {{ ref('int_identity__match_weight_estimates') }}
where not em_converged or (comparison = 'prior' and m_from <> 'em')
