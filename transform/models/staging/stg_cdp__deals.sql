with source as (

    select * from {{ source('cdp', 'deals') }}

),

renamed as (

    select
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(pipedrive_deal_id as {{ dbt.type_bigint() }}) as pipedrive_deal_id,
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(organization_id as {{ dbt.type_string() }}) as organization_id,
        cast(pipedrive_person_id as {{ dbt.type_bigint() }}) as pipedrive_person_id,
        cast(pipedrive_org_id as {{ dbt.type_bigint() }}) as pipedrive_org_id,
        cast(pipeline_id as {{ dbt.type_bigint() }}) as pipeline_id,
        cast(stage_id as {{ dbt.type_bigint() }}) as stage_id,

        title as deal_title,
        lower(status) as status,
        cast(value as {{ dbt.type_numeric() }}) as deal_value,
        upper(currency) as currency,
        {{ json_text('attributes', 'lost_reason') }} as lost_reason,
        attributes,

        -- Pipedrive's own "deleted" status means deleted even if the marker lags behind.
        coalesce(is_deleted, false) or coalesce(lower(status) = 'deleted', false) as is_deleted,
        coalesce(is_archived, false) as is_archived,

        add_time as created_at,
        update_time as updated_at,
        stage_change_time as stage_changed_at,
        won_time as won_at,
        lost_time as lost_at,
        close_time as closed_at,
        deleted_at

    from source

)

select * from renamed
