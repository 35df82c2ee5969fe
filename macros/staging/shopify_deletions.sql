{#
    Shopify deletions (issue 11): whether an order was deleted (orders/delete), redacted with its
    customer (customers/redact lists orders_to_redact) or belongs to a deleted or redacted customer.
    Used by stg_shopify__orders and, through the order's raw `_dlt_id`, by its child staging models.
#}
{% macro shopify_order_is_deleted(order_id, customer_id) -%}
(
    {{ order_id }} in (
        select deleted.record_id from {{ customer360.source_if_loaded('shopify', 'deleted_records') }} as deleted
        where deleted.record_type = 'order'
    )
    or coalesce({{ customer_id }}, -1) in (
        select deleted.record_id from {{ customer360.source_if_loaded('shopify', 'deleted_records') }} as deleted
        where deleted.record_type = 'customer'
    )
)
{%- endmacro %}

{% macro shopify_deleted_order_dlt_ids() -%}
(
    select raw_orders._dlt_id from {{ customer360.source_if_loaded('shopify', 'orders') }} as raw_orders
    where {{ customer360.shopify_order_is_deleted('raw_orders.id', 'raw_orders.customer__id') }}
)
{%- endmacro %}
