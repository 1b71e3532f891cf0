{#
  The text at a path inside a JSON column, null when absent:
  json_text('attributes', 'custom_fields', 'tier') -> attributes->'custom_fields'->>'tier'.
  Cast the result to the type you need: engines differ on what they return for numbers.
#}
{% macro json_text(column) -%}
  {%- if varargs | length == 0 -%}
    {{ exceptions.raise_compiler_error("json_text needs at least one key after the column") }}
  {%- endif -%}
  {{ return(adapter.dispatch('json_text', 'cdp_audiences')(column, varargs)) }}
{%- endmacro %}

{% macro _json_path(keys) -%}
  {%- for key in keys -%}
    {{ '->>' if loop.last else '->' }}'{{ key | replace("'", "''") }}'
  {%- endfor -%}
{%- endmacro %}

{# DuckDB reads JSON and text columns alike with the arrow operators. #}
{% macro default__json_text(column, keys) -%}
  ({{ column }}{{ cdp_audiences._json_path(keys) }})
{%- endmacro %}

{# PostgreSQL has no arrow operators on text; casting to jsonb accepts text, json and jsonb. #}
{% macro postgres__json_text(column, keys) -%}
  (cast({{ column }} as jsonb){{ cdp_audiences._json_path(keys) }})
{%- endmacro %}
