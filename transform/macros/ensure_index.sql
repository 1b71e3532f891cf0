{#
  An index on this model's table, on PostgreSQL, for the pages that read one member or one
  audience at a time (cdp-view's person and audience pages, tap-cdp's audience changes).

  dbt-postgres's own `indexes` config creates indexes only when it creates the table, so an
  incremental model built before an index was declared (audience_membership holds the whole
  history: it is never rebuilt) would never get it. A fixed index name with `if not exists`
  is no answer either: during a full refresh the old table, renamed to a backup, still holds
  that name until the transaction commits, so the new table would be left without the index.
  Here the index is created, under a name PostgreSQL picks, whenever the table has no index of
  that definition: on the first build, after a full refresh, and once on an existing CDP.
  DuckDB: nothing (its pages scan columnar zone maps).

  definition: the part of CREATE INDEX after the table, as PostgreSQL prints it back in
  pg_indexes.indexdef after "USING btree ", e.g. "(member_id)" or
  "(audience, member_id) WHERE (exited_at IS NULL)".
#}
{% macro ensure_index(definition) -%}
  {%- if target.type == 'postgres' -%}
do $$ begin
  if not exists (
    select 1 from pg_indexes
    where schemaname = '{{ this.schema }}' and tablename = '{{ this.identifier }}'
      and indexdef like '% USING btree {{ definition }}'
  ) then
    create index on {{ this }} {{ definition }};
  end if;
end $$
  {%- endif -%}
{%- endmacro %}
