{#
  item_rules(var, item)
  The merchandiser's rules about items, as one SQL condition over `item` (the alias of an int_item_attributes row):
    vars.deny_items, deny_brands, deny_categories     never these (a NULL brand or category is not denied)
    vars.allow_items, allow_brands, allow_categories  only these, when set (a NULL brand or category is not allowed)
    vars.in_stock_only (false)                        not items known to be out of stock (NULL stock passes)
    vars.margin_floor                                 only items whose margin is known and at least this
  Usage: WHERE {{ item_rules(var, 'a') }}
#}
{% macro item_rules(var, item) -%}
true
{%- for name, column in [('items', 'item_id'), ('brands', 'brand'), ('categories', 'category')] %}
{%- set deny = var('deny_' ~ name, []) %}
{%- if deny %}
    AND coalesce({{ item | ident }}.{{ column | ident }} NOT IN {{ deny | lit }}, true)
{%- endif %}
{%- set allow = var('allow_' ~ name, []) %}
{%- if allow %}
    AND coalesce({{ item | ident }}.{{ column | ident }} IN {{ allow | lit }}, false)
{%- endif %}
{%- endfor %}
{%- if var('in_stock_only', false) %}
    AND {{ item | ident }}.in_stock IS NOT false
{%- endif %}
{%- if var('margin_floor', none) is not none %}
    AND {{ item | ident }}.margin >= {{ var('margin_floor', none) | float }}
{%- endif %}
{%- endmacro %}

{#
  user_item_rules(var, ref, row, item, profile)
  The rules about a user and an item, as one SQL condition:
    vars.exclude_purchased (true)   never an item the user purchased (events of vars.purchase_events), unless its
                                    category is one of vars.repurchase_categories (consumables: "buy again")
    vars.max_tier_distance          the item's price tier at most this many steps (vars.tier_order) from the
                                    user's typical tier (`profile`: an int_user_profile row); unknown tiers pass
  `row` is the alias of the relation whose user_id is the user, `item` of the int_item_attributes row. Pass `ref`.
#}
{% macro user_item_rules(var, ref, row, item, profile) -%}
true
{%- if var('exclude_purchased', true) %}
    AND (NOT EXISTS (SELECT 1 FROM {{ ref('stg_events') }} AS bought
                     WHERE bought.user_id = {{ row | ident }}.user_id AND bought.item_id = {{ item | ident }}.item_id
                       AND bought.event_type IN {{ var('purchase_events', ['purchase']) | lit }})
{%- if var('repurchase_categories', []) %}
         OR {{ item | ident }}.category IN {{ var('repurchase_categories', []) | lit }}
{%- endif %})
{%- endif %}
{%- if var('max_tier_distance', none) is not none %}
    AND coalesce(abs({{ item | ident }}.tier_index - {{ profile | ident }}.typical_tier)
                 <= {{ var('max_tier_distance', none) | int }}, true)
{%- endif %}
{%- endmacro %}
