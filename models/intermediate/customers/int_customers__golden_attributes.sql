{#
    The attributes of the golden record whose history matters (identity and contact data with their
    provenance), without the metrics `customers` also carries: the input of `customers_snapshot`, so a
    new order never creates a new version of a person. A view: it is read only by the snapshot.
#}

{{ config(materialized='view') }}

select
    customer_id,
    email,
    is_role_email,
    email_source_system,
    email_source_record_id,
    phone_e164,
    phone_source_system,
    phone_source_record_id,
    first_name,
    last_name,
    name_source_system,
    name_source_record_id,
    address_line1,
    address_line2,
    city,
    postal_code,
    region_code,
    country_code,
    address_source_system,
    address_source_record_id,
    date_of_birth,
    date_of_birth_source_system,
    date_of_birth_source_record_id
from {{ ref('customers') }}
