{#
  A numeric var, checked before it reaches SQL: a whole number >= minimum, or a compile error
  naming the var. Vars are inlined into the SQL, so a value like "2; drop table x", true or 1.5
  must stop the build with a line saying what to change, not run or fail somewhere inside a
  query. A string of digits ("30", as --vars may quote it) is read as the number.

  whole_number_var('engaged_days')                       -> 30
  whole_number_var('min_won_deals', minimum=1)           -> 2
  whole_number_var('repeat_lookback_days', nullable=true) -> none when the var is null
#}
{% macro whole_number_var(name, minimum=0, nullable=false) -%}
  {%- set value = var(name) -%}
  {%- if value is none and nullable -%}
    {{ return(none) }}
  {%- endif -%}
  {%- if value is string and modules.re.fullmatch('\\s*\\d+\\s*', value) -%}
    {%- set value = value | int -%}
  {%- endif -%}
  {#- Jinja's integer test is false for true and false, and for 1.5. -#}
  {%- if value is not integer or value < minimum -%}
    {{ exceptions.raise_compiler_error(
        "var '" ~ name ~ "' must be a whole number >= " ~ minimum
        ~ (" or null" if nullable else "") ~ ", got "
        ~ ("null" if value is none else "'" ~ value ~ "'" if value is string else value)
        ~ "; set it in dbt_project.yml or with --vars '{" ~ name ~ ": <number>}'"
    ) }}
  {%- endif -%}
  {{ return(value) }}
{%- endmacro %}
