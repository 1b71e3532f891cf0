with source as (

    select * from {{ source('cdp', 'organizations') }}

),

renamed as (

    select
        cast(organization_id as {{ dbt.type_string() }}) as organization_id,
        cast(pipedrive_org_id as {{ dbt.type_bigint() }}) as pipedrive_org_id,

        name as organization_name,
        attributes,
        source,

        coalesce(is_deleted, false) as is_deleted,
        created_at,
        updated_at,
        deleted_at

    from source

)

select * from renamed
