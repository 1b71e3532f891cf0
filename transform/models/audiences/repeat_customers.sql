{#
  People with at least min_won_deals distinct won deals, read from deal state.
  Definition, edge cases and reasons: repeat_customers.yml.
#}
with deals as (

    select * from {{ ref('stg_cdp__deals') }}

),

people as (

    select * from {{ ref('stg_cdp__people') }}

),

won_deals as (

    select * from deals
    where status = 'won'
      and not is_deleted
      and person_id is not null
      -- A deal won after as_of had not been won yet; an unknown won_at still counts.
      and (won_at is null or won_at < {{ as_of() }})
      {%- set lookback_days = whole_number_var('repeat_lookback_days', nullable=true) %}
      {%- if lookback_days is not none %}
      and won_at >= {{ days_before_as_of(lookback_days) }}
      {%- endif %}

),

wins_per_person as (

    select
        person_id,
        count(distinct deal_id) as won_deals,
        min(won_at) as first_won_at,
        max(won_at) as last_won_at
    from won_deals
    group by person_id

),

final as (

    select
        people.person_id,
        people.email,
        people.first_name,
        people.last_name,
        people.organization_id,
        wins_per_person.won_deals,
        wins_per_person.first_won_at,
        wins_per_person.last_won_at

    from wins_per_person
    inner join people
        on people.person_id = wins_per_person.person_id
    where not people.is_deleted
      and wins_per_person.won_deals >= {{ whole_number_var('min_won_deals', minimum=1) }}

)

select * from final
