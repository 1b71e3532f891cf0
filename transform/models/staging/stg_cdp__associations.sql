with source as (

    select * from {{ source('cdp', 'associations') }}

),

renamed as (

    select
        from_kind,
        cast(from_id as {{ dbt.type_string() }}) as from_id,
        to_kind,
        cast(to_id as {{ dbt.type_string() }}) as to_id,
        associated_at

    from source

)

select * from renamed
