{#
  Open deals someone engaged with in the last engaged_days: [as_of - engaged_days, as_of).
  Definition, edge cases and reasons: engaged_deals.yml.
#}
with deals as (

    select * from {{ ref('stg_cdp__deals') }}

),

activities as (

    select * from {{ ref('stg_cdp__activities') }}
    where occurred_at >= {{ days_before_as_of(whole_number_var('engaged_days')) }}
      and occurred_at < {{ as_of() }}

),

person_touches as (

    select * from {{ ref('int_person_touches') }}
    where occurred_at >= {{ days_before_as_of(whole_number_var('engaged_days')) }}
      and occurred_at < {{ as_of() }}

),

stages as (

    select * from {{ ref('stg_cdp__stages') }}

),

pipelines as (

    select * from {{ ref('stg_cdp__pipelines') }}

),

open_deals as (

    select * from deals
    where status = 'open'
      and not is_deleted
      and not is_archived

),

crm_touches as (

    select
        activities.deal_id,
        activities.occurred_at
    from activities
    where activities.deal_id is not null
      and activities.activity_type in {{ string_list(var('crm_engagement_types')) }}
      -- the CDP's own write-backs (a deal it moved) are not engagement
      and activities.writeback_action is null

),

-- Marketing engagement of the deal's person, by the one definition of a touch on a person.
marketing_touches as (

    select
        open_deals.deal_id,
        person_touches.occurred_at
    from open_deals
    inner join person_touches
        on person_touches.person_id = open_deals.person_id
    where person_touches.activity_type in {{ string_list(var('marketing_engagement_types')) }}

),

touches as (

    select * from crm_touches
    union all
    select * from marketing_touches

),

deal_engagement as (

    select
        deal_id,
        count(*) as touches_in_window,
        max(occurred_at) as last_engaged_at
    from touches
    group by deal_id

),

final as (

    select
        open_deals.deal_id,
        open_deals.person_id,
        open_deals.organization_id,
        open_deals.pipedrive_deal_id,
        open_deals.deal_title,
        open_deals.deal_value,
        open_deals.currency,
        open_deals.pipeline_id,
        pipelines.pipeline_name,
        open_deals.stage_id,
        stages.stage_name,
        deal_engagement.touches_in_window,
        deal_engagement.last_engaged_at

    from open_deals
    inner join deal_engagement
        on deal_engagement.deal_id = open_deals.deal_id
    left join stages
        on stages.stage_id = open_deals.stage_id
    left join pipelines
        on pipelines.pipeline_id = open_deals.pipeline_id

)

select * from final
