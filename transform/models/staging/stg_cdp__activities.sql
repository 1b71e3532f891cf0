with source as (

    select * from {{ source('cdp', 'activities') }}

),

renamed as (

    select
        activity_key,
        activity_type,
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(organization_id as {{ dbt.type_string() }}) as organization_id,
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,

        occurred_at,
        attributes,
        -- The action whose write-back this activity records (target-cdp's loop prevention).
        cast({{ json_text('attributes', 'writeback_action') }} as {{ dbt.type_string() }})
            as writeback_action,
        cast(definition_version as {{ dbt.type_int() }}) as definition_version,
        source,
        source_record

    from source

)

select * from renamed
