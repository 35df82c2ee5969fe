with

source as (
    select * from {{ customer360.source_if_loaded('segment', 'rejected_events') }}
),

final as (
    select
        'segment' as source_system,
        {{ dbt.concat(['source.source_file', "':'", 'cast(source.line_number as ' ~ dbt.type_string() ~ ')']) }}
            as record_key,
        source.source_file,
        source.line_number,
        source.raw_text,
        source.reason,
        {#- A messageId already used by other content collides; valid JSON without a messageId lacks its
            key; everything else could not be read at all. -#}
        case
            when lower(source.reason) like 'messageid collision%' then 'message_id_collision'
            when lower(source.reason) like '%messageid%' then 'missing_required_key'
            else 'broken_json'
        end as rule_name,
        {{ customer360.to_utc_timestamp('source.rejected_at') }} as rejected_at,
        source._dlt_load_id as load_id,
        {{ customer360.load_id_to_timestamp('source._dlt_load_id') }} as loaded_at
    from source
)

select * from final
