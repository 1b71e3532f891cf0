{#
  Every engagement touch on a person: one row per engagement activity and person it touches.
  Definition, edge cases and reasons: int_person_touches.yml.
#}
{%- set engagement_types = var('crm_engagement_types') + var('marketing_engagement_types') -%}

with activities as (

    select * from {{ ref('stg_cdp__activities') }}
    where activity_type in {{ string_list(engagement_types) }}
      -- the CDP's own write-backs coming back from Pipedrive touch nobody
      and writeback_action is null

),

deals as (

    select * from {{ ref('stg_cdp__deals') }}

),

-- The person the record itself names: the person of a call or note, the recipient of an email.
touches_on_record_person as (

    select
        person_id,
        activity_key,
        activity_type,
        occurred_at,
        deal_id
    from activities
    where person_id is not null

),

-- The person of the deal the record belongs to: a note or a completed call on a deal touches
-- the deal's person even when the record names nobody.
touches_on_deal_person as (

    select
        deals.person_id,
        activities.activity_key,
        activities.activity_type,
        activities.occurred_at,
        activities.deal_id
    from activities
    inner join deals
        on deals.deal_id = activities.deal_id
    where deals.person_id is not null

),

final as (

    -- union, not union all: most records name the deal's own person, one touch each.
    select * from touches_on_record_person
    union
    select * from touches_on_deal_person

)

select * from final
