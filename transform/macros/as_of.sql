{#
  The evaluation time of every audience, as a SQL timestamptz literal.

  var('as_of') may be an ISO 8601 string ("2026-03-01T00:00:00Z", "2026-03-01 12:00:00+02:00",
  "2026-03-01"; no offset means UTC) or a timestamp or date parsed by YAML from --vars. Unset,
  it is the start of this dbt invocation (run_started_at), so every model of one build sees the
  same instant.
#}
{% macro as_of() -%}
  {%- set value = var('as_of', none) -%}
  {%- set iso_pattern = '^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,6})?)?)?([Zz]|[+-]\\d{2}(:?\\d{2})?)?$' -%}
  {%- if value is none or value == '' -%}
    {%- set moment = run_started_at -%}
  {%- elif value is string and modules.re.match(iso_pattern, value.strip()) -%}
    {%- set text = value.strip() -%}
    {%- if text[-1] in 'Zz' -%}
      {%- set text = text[:-1] ~ '+00:00' -%}
    {%- endif -%}
    {%- set moment = modules.datetime.datetime.fromisoformat(text) -%}
  {%- elif value.hour is defined -%}
    {%- set moment = value -%}
  {%- elif value.isoformat is defined and value is not string -%}
    {#- A bare YAML date: midnight UTC. -#}
    {%- set moment = modules.datetime.datetime(value.year, value.month, value.day) -%}
  {%- else -%}
    {{ exceptions.raise_compiler_error(
        "var 'as_of' must be an ISO 8601 timestamp such as 2026-03-01T00:00:00Z, got '"
        ~ value ~ "'"
    ) }}
  {%- endif -%}
  {%- if moment.tzinfo is none -%}
    {%- set moment = moment.replace(tzinfo=modules.pytz.utc) -%}
  {%- endif -%}
  cast('{{ moment.astimezone(modules.pytz.utc).isoformat() }}' as timestamp with time zone)
{%- endmacro %}


{#
  The instant `days` days before as_of: the lower bound of a half-open window
  [as_of - days, as_of). A day is 24 hours of UTC: an interval of N "days" would follow the
  session time zone's daylight-saving shifts on both DuckDB (ICU) and PostgreSQL.
#}
{% macro days_before_as_of(days) -%}
  {{ return(adapter.dispatch('days_before_as_of', 'cdp_audiences')(days)) }}
{%- endmacro %}

{% macro default__days_before_as_of(days) -%}
  {%- if days is not number or days < 0 -%}
    {{ exceptions.raise_compiler_error(
        "a window length must be a whole number of days >= 0, got " ~ days
    ) }}
  {%- endif -%}
  ({{ as_of() }} - interval '{{ (days * 24) | int }} hours')
{%- endmacro %}
