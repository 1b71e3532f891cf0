{#
  The audiences whose members audience_members lists and audience_membership tracks: the
  model's name, what its members are, and the column holding their CDP id. Add a line here
  when you add an audience model.
#}
{% macro tracked_audiences() -%}
  {{ return([
      {'name': 'engaged_deals', 'member_kind': 'deal', 'id_column': 'deal_id'},
      {'name': 'slipping_subscribers', 'member_kind': 'person', 'id_column': 'person_id'},
      {'name': 'repeat_customers', 'member_kind': 'person', 'id_column': 'person_id'},
  ]) }}
{%- endmacro %}
