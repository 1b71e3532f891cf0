with source as (

    select * from {{ source('cdp', 'activity_summary') }}

),

renamed as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        activity_type,

        first_at as first_occurred_at,
        last_at as last_occurred_at,
        cast({{ adapter.quote('count') }} as {{ dbt.type_bigint() }}) as occurrences

    from source

)

select * from renamed
