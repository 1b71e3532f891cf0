with source as (

    select * from {{ source('cdp', 'stages') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as stage_id,
        cast(pipeline_id as {{ dbt.type_bigint() }}) as pipeline_id,
        name as stage_name,
        cast(order_nr as {{ dbt.type_int() }}) as stage_order,
        attributes

    from source

)

select * from renamed
