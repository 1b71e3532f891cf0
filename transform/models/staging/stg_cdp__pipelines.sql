with source as (

    select * from {{ source('cdp', 'pipelines') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as pipeline_id,
        name as pipeline_name,
        attributes

    from source

)

select * from renamed
