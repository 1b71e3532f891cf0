{#
  Who entered and left each audience, one row per (audience, member, stint).
  Each build compares audience_members (the audiences at this build's as_of) with the open
  stints of the previous builds, and writes only the difference: stints to close and stints
  to open. Definition and guarantees: audience_membership.yml.
#}
{{ config(
    materialized='incremental',
    unique_key='membership_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ ensure_index('(member_id)') }}",
        "{{ ensure_index('(audience, member_id) WHERE (exited_at IS NULL)') }}",
        "{{ ensure_index('(audience, entered_at)') }}",
        "{{ ensure_index('(audience, exited_at)') }}",
    ],
) }}

{%- if execute and is_incremental() and model.resource_type == 'model' -%}
    {#- A build that changed no stint left its as_of only in audience_builds (built after this
        model, so looked up rather than ref'd). -#}
    {%- set builds = adapter.get_relation(
        database=this.database, schema=this.schema, identifier='audience_builds'
    ) -%}
    {%- set later_builds = (
        ' union all select as_of from ' ~ builds ~ ' where as_of > ' ~ as_of()
    ) if builds is not none else '' -%}
    {%- set later = run_query(
        'select count(*) from (select entered_at from ' ~ this
        ~ ' where entered_at > ' ~ as_of() ~ ' or exited_at > ' ~ as_of()
        ~ later_builds ~ ') as later'
    ).columns[0].values()[0] -%}
    {%- if later > 0 -%}
        {{ exceptions.raise_compiler_error(
            'as_of (' ~ as_of() ~ ') is earlier than the last build of ' ~ this
            ~ ': stints cannot be rewritten backwards. Use a later as_of, or rebuild the history'
            ~ ' with --full-refresh.'
        ) }}
    {%- endif -%}
{%- endif %}

with current_members as (

    select * from {{ ref('audience_members') }}

),

{% if is_incremental() %}

previous_stints as (

    select * from {{ this }}
    where audience in {{ string_list(tracked_audiences() | map(attribute='name') | list) }}

),

open_stints as (

    select * from previous_stints
    where exited_at is null

),

stint_counts as (

    select
        audience,
        member_id,
        max(stint_number) as last_stint_number
    from previous_stints
    group by audience, member_id

),

exits as (

    select
        open_stints.audience,
        open_stints.member_kind,
        open_stints.member_id,
        open_stints.stint_number,
        open_stints.entered_at,
        {{ as_of() }} as exited_at
    from open_stints
    left join current_members
        on current_members.audience = open_stints.audience
        and current_members.member_id = open_stints.member_id
    where current_members.member_id is null

),

entries as (

    select
        current_members.audience,
        current_members.member_kind,
        current_members.member_id,
        coalesce(stint_counts.last_stint_number, 0) + 1 as stint_number,
        {{ as_of() }} as entered_at,
        cast(null as timestamp with time zone) as exited_at
    from current_members
    left join open_stints
        on open_stints.audience = current_members.audience
        and open_stints.member_id = current_members.member_id
    left join stint_counts
        on stint_counts.audience = current_members.audience
        and stint_counts.member_id = current_members.member_id
    where open_stints.member_id is null

),

changes as (

    select * from exits
    union all
    select * from entries

),

{% else %}

changes as (

    select
        audience,
        member_kind,
        member_id,
        1 as stint_number,
        {{ as_of() }} as entered_at,
        cast(null as timestamp with time zone) as exited_at
    from current_members

),

{% endif %}

final as (

    select
        audience
            || ':' || member_id
            || ':' || cast(stint_number as {{ dbt.type_string() }}) as membership_id,
        audience,
        member_kind,
        member_id,
        cast(stint_number as {{ dbt.type_int() }}) as stint_number,
        entered_at,
        exited_at
    from changes

)

select * from final
