with

load_summary as (
    select * from {{ ref('int_quality__load_summary') }}
),

quarantine as (
    select * from {{ ref('int_quality__quarantine') }}
),

by_rule as (
    select
        load_id,
        source_system,
        source_table,
        rule_name,
        count(distinct coalesce(source_location, record_key)) as rows_quarantined
    from quarantine
    group by load_id, source_system, source_table, rule_name
),

joined as (
    select
        by_rule.load_id,
        load_summary.loaded_at,
        by_rule.source_system,
        by_rule.source_table,
        by_rule.rule_name,
        load_summary.rows_in,
        by_rule.rows_quarantined,
        cast(by_rule.rows_quarantined as {{ dbt.type_float() }}) / load_summary.rows_in as rule_rate
    from by_rule
    inner join load_summary
        on
            by_rule.load_id = load_summary.load_id
            and by_rule.source_system = load_summary.source_system
            and by_rule.source_table = load_summary.source_table
),

final as (
    select
        {{ customer360.surrogate_key(['load_id', 'source_system', 'source_table', 'rule_name']) }} as rule_summary_id,
        load_id,
        loaded_at,
        source_system,
        source_table,
        rule_name,
        rows_in,
        rows_quarantined,
        rule_rate,
        lag(rule_rate) over (
            partition by source_system, source_table, rule_name order by loaded_at, load_id
        ) as previous_rule_rate
    from joined
)

select * from final
