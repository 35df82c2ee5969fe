{#
    Survivorship: which observation of a customer supplies an attribute of the golden record.

    identity_survivorship_order(rule) returns the ORDER BY list that ranks a customer's candidate
    observations, best first. The candidates carry: trust_rank (seeds/identity/identity_source_priorities:
    1 = most trusted), observed_at, is_order (a Shopify order, guest or not), completeness (how many
    parts of the attribute the observation fills) and value_count (how many of the customer's
    observations state the same value), and observation_hash (a hash of the whole observation: the last
    tie-break, so that a pick never depends on the order rows are read in).

    Rules (set per attribute in var identity_survivorship):
      most_trusted       the most trusted source, and its most recent value
      most_recent        the most recent value, ties to the more trusted source
      most_complete      the value with the most parts filled, then the most frequent, then trust
      most_recent_order  the most recent order's value (shipping address), else the most recent
      most_frequent      the value stated most often, then the most recent
#}

{% macro identity_survivorship_order(rule) -%}
    {%- set orders = {
        'most_trusted': 'trust_rank, observed_at desc nulls last',
        'most_recent': 'observed_at desc nulls last, trust_rank',
        'most_complete': 'completeness desc, value_count desc, trust_rank, observed_at desc nulls last',
        'most_recent_order': 'is_order desc, observed_at desc nulls last, trust_rank',
        'most_frequent': 'value_count desc, observed_at desc nulls last, trust_rank',
    } -%}
    {%- if rule not in orders -%}
        {{ exceptions.raise_compiler_error(
            "unknown survivorship rule '" ~ rule ~ "' in var identity_survivorship; expected one of: "
            ~ (orders.keys() | sort | join(', '))) }}
    {%- endif -%}
    {{ orders[rule] }}, source_system, source_record_id, observation_hash
{%- endmacro %}


{% macro identity_survivorship_rule(attribute) -%}
    {%- set rules = var('identity_survivorship') -%}
    {%- if attribute not in rules -%}
        {{ exceptions.raise_compiler_error("var identity_survivorship has no rule for '" ~ attribute ~ "'") }}
    {%- endif -%}
    {{ return(rules[attribute]) }}
{%- endmacro %}
