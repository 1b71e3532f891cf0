with source as (

    select * from {{ source('cdp', 'people') }}
    -- A person merged into another (a Pipedrive merge) is that person now: counted once.
    where merged_into is null

),

renamed as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(organization_id as {{ dbt.type_string() }}) as organization_id,
        cast(pipedrive_person_id as {{ dbt.type_bigint() }}) as pipedrive_person_id,
        cast(pipedrive_org_id as {{ dbt.type_bigint() }}) as pipedrive_org_id,

        email,
        first_name,
        last_name,
        phone,
        {{ json_text('attributes', 'marketing_status') }} as marketing_status,
        attributes,
        source,

        -- Consent is opt-in: an unknown permission is no permission.
        coalesce(email_permission, false) as has_email_permission,
        coalesce(sms_permission, false) as has_sms_permission,
        coalesce(is_deleted, false) as is_deleted,

        created_at,
        updated_at,
        deleted_at,
        pipedrive_deleted_at

    from source

)

select * from renamed
