{#
  Every member of every tracked audience at as_of, one row per (audience, member).
  The audiences are listed in macros/tracked_audiences.sql.
#}
with members as (

    {% for audience in tracked_audiences() %}
    select distinct
        cast('{{ audience.name }}' as {{ dbt.type_string() }}) as audience,
        cast('{{ audience.member_kind }}' as {{ dbt.type_string() }}) as member_kind,
        cast({{ audience.id_column }} as {{ dbt.type_string() }}) as member_id
    from {{ ref(audience.name) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from members
