-- Stints of one member in one audience follow each other: numbered 1, 2, 3, ...; each closes
-- no earlier than it opened (at the same as_of when that as_of was rebuilt on newer data); the
-- next opens no earlier than the previous closed; only the last is open.
with stints as (

    select
        audience,
        member_id,
        stint_number,
        entered_at,
        exited_at,
        lag(stint_number) over (
            partition by audience, member_id order by stint_number
        ) as previous_stint_number,
        lead(stint_number) over (
            partition by audience, member_id order by stint_number
        ) as next_stint_number,
        lead(entered_at) over (
            partition by audience, member_id order by stint_number
        ) as next_entered_at
    from {{ ref('audience_membership') }}

)

select * from stints
where exited_at < entered_at
   or stint_number <> coalesce(previous_stint_number, 0) + 1
   or (next_stint_number is not null and exited_at is null)
   or next_entered_at < exited_at
