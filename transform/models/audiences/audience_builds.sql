{#
  One row per build of audience_membership: the as_of it was built at and the members it
  left. audience_membership reads the latest as_of here to refuse going back in time, even
  after builds that changed no stint. Definition: audience_builds.yml.
#}
{{ config(
    materialized='incremental',
    unique_key='as_of',
    incremental_strategy='delete+insert',
) }}

with membership as (

    select * from {{ ref('audience_membership') }}

),

final as (

    select
        {{ as_of() }} as as_of,
        cast(count(*) as {{ dbt.type_bigint() }}) as members
    from membership
    where exited_at is null
      and audience in {{ string_list(tracked_audiences() | map(attribute='name') | list) }}

)

select * from final
