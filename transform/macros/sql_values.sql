{# A parenthesised list of SQL string literals from a list var: ('a', 'b'). #}
{% macro string_list(values) -%}
  {%- if values is string or values | length == 0 -%}
    {{ exceptions.raise_compiler_error(
        "expected a non-empty list of strings, got " ~ values
    ) }}
  {%- endif -%}
  ({% for value in values %}'{{ value | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}
