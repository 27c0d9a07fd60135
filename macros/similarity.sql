{#
  item_similarity(function, c_ij, c_ii, c_jj, n_items, damping=[0.5, 0.5])
  The similarity of items i and j from their co-occurrence count c_ij and their own counts c_ii, c_jj (users who
  had each), as SQL over those three columns. The functions are Microsoft Recommenders' SAR functions, exactly:
    cooccurrence                       c_ij
    cosine                             c_ij / sqrt(c_ii * c_jj)
    jaccard                            c_ij / (c_ii + c_jj - c_ij)
    lift                               c_ij / (c_ii * c_jj)
    inclusion_index                    c_ij / min(c_ii, c_jj)
    mutual_information                 log2(n_items * c_ij / (c_ii * c_jj))   (n_items: items in training, as SAR)
    lexicographers_mutual_information  c_ij * log2(n_items * c_ij / (c_ii * c_jj))
  plus a popularity-damped form:
    damped                             c_ij / (c_ii^a * c_jj^b), damping = [a, b]
  Arguments are column names (quoted as identifiers), except n_items, which is SQL for a number.
#}
{% macro item_similarity(function, c_ij, c_ii, c_jj, n_items, damping=[0.5, 0.5]) -%}
{%- if function == 'cooccurrence' -%}
CAST({{ c_ij | ident }} AS DOUBLE)
{%- elif function == 'cosine' -%}
{{ c_ij | ident }} / sqrt(CAST({{ c_ii | ident }} AS DOUBLE) * {{ c_jj | ident }})
{%- elif function == 'jaccard' -%}
{{ c_ij | ident }} / CAST({{ c_ii | ident }} + {{ c_jj | ident }} - {{ c_ij | ident }} AS DOUBLE)
{%- elif function == 'lift' -%}
{{ c_ij | ident }} / (CAST({{ c_ii | ident }} AS DOUBLE) * {{ c_jj | ident }})
{%- elif function == 'inclusion_index' -%}
{{ c_ij | ident }} / CAST(least({{ c_ii | ident }}, {{ c_jj | ident }}) AS DOUBLE)
{%- elif function == 'mutual_information' -%}
log2({{ n_items }} * ({{ c_ij | ident }} / (CAST({{ c_ii | ident }} AS DOUBLE) * {{ c_jj | ident }})))
{%- elif function == 'lexicographers_mutual_information' -%}
{{ c_ij | ident }} * log2({{ n_items }} * ({{ c_ij | ident }} / (CAST({{ c_ii | ident }} AS DOUBLE) * {{ c_jj | ident }})))
{%- elif function == 'damped' -%}
{{ c_ij | ident }} / (pow(CAST({{ c_ii | ident }} AS DOUBLE), {{ damping[0] | float }}) * pow(CAST({{ c_jj | ident }} AS DOUBLE), {{ damping[1] | float }}))
{%- else -%}
{{ raise_error("item_similarity: unknown function; use cooccurrence, cosine, jaccard, lift, inclusion_index, mutual_information, lexicographers_mutual_information or damped") }}
{%- endif -%}
{%- endmacro %}
