with

sessions as (
    select * from {{ ref('int_engagement__web_sessions') }}
),

final as (
    select * from sessions
)

select * from final
