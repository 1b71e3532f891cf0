{#
  Email subscribers whose last engagement fell in [as_of - lookback_days, as_of - recent_days).
  Definition, edge cases and reasons: slipping_subscribers.yml.
#}
{%- set engagement_types = var('crm_engagement_types') + var('marketing_engagement_types') -%}

with people as (

    select * from {{ ref('stg_cdp__people') }}

),

activity_summary as (

    select * from {{ ref('stg_cdp__activity_summary') }}

),

person_touches as (

    select * from {{ ref('int_person_touches') }}

),

subscribers as (

    select * from people
    where has_email_permission
      -- Other sources may store no email as '' or spaces rather than null.
      and trim(email) <> ''
      and not is_deleted
      -- People created in the recent window have not had the time to engage yet.
      and (created_at is null or created_at < {{ days_before_as_of(whole_number_var('recent_days')) }})

),

-- The summary keeps last_at whatever the retention: it is what makes this audience work on
-- engagement older than the raw activities. The touches held raw add what the summary cannot
-- know: touches on the person through their deals (a note on the deal naming nobody), and,
-- when last_at is at or after as_of (a rebuild of a past as_of), the last touch before as_of.
engagements_before_as_of as (

    select person_id, last_occurred_at as engaged_at
    from activity_summary
    where activity_type in {{ string_list(engagement_types) }}
      and last_occurred_at < {{ as_of() }}

    union all

    select person_id, occurred_at as engaged_at
    from person_touches
    where occurred_at < {{ as_of() }}

),

last_engagement as (

    select
        person_id,
        max(engaged_at) as last_engaged_at
    from engagements_before_as_of
    group by person_id

),

final as (

    select
        subscribers.person_id,
        subscribers.email,
        subscribers.first_name,
        subscribers.last_name,
        subscribers.organization_id,
        subscribers.created_at,
        last_engagement.last_engaged_at

    from subscribers
    inner join last_engagement
        on last_engagement.person_id = subscribers.person_id
    where last_engagement.last_engaged_at >= {{ days_before_as_of(whole_number_var('lookback_days')) }}
      and last_engagement.last_engaged_at < {{ days_before_as_of(whole_number_var('recent_days')) }}

)

select * from final
