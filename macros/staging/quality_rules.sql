{#
    quality_rules(): every rule the quarantine reports, by name, with what it says in words (the
    `reason` column of int_quality__quarantine starts with it). One rule, one name, whatever the source.

    Rules that blank a value (value_nulled), change it (value_changed), flag or exclude a row, or record
    a line the loader rejected. Each is fed its bad value on its own in tests/python/test_quality_rules.py.

    What staging does to values WITHOUT a quarantine row, because the value keeps its meaning
    (quality_formatting_rules() lists them, for the docs and the test that checks the list is complete):
    case and surrounding spaces, a leading "mailto:", phone numbers written in E.164 (trunk prefix and
    punctuation dropped, the country's calling code added), names and address lines in proper case with
    runs of spaces collapsed, a country or region name written as its ISO code, a postal code's spacing
    and hyphen, timestamps converted to UTC, a currency code upper-cased.
#}
{% macro quality_rules() -%}
    {{ return({
        'invalid_email': 'not a valid email address',
        'invalid_phone': 'not a phone number that can be written in E.164',
        'invalid_date': 'not a readable date or timestamp',
        'future_date': 'later than build time plus var staging_future_grace_days',
        'date_before_1900': 'a date of birth before 1900',
        'invalid_postal_code': "breaks its country's postal code pattern (postal_code_rules macro)",
        'postal_code_shortened': "longer than its country's format: the extra characters (a ZIP+4 extension) are dropped",
        'unknown_country': 'not a country name or code that seed country_aliases knows',
        'email_domain_corrected': 'a misspelt email domain, corrected through seed email_domain_corrections',
        'negative_amount': 'a negative amount',
        'order_total_mismatch': 'the totals do not add up (line items - discounts + tax + shipping), var staging_order_total_tolerance',
        'missing_required_key': 'a required value is missing',
        'unknown_enum': 'a value outside the accepted values (its enum seed)',
        'missing_identity': 'the message has neither anonymousId nor userId',
        'broken_json': 'the loader could not read the line as a message',
        'broken_csv_row': 'the loader could not parse the CSV row',
        'value_too_long': 'longer than ' ~ var('staging_max_text_length', 1000) ~ ' characters (var staging_max_text_length)',
        'unknown_reference': 'refers to a record the source never sent',
        'message_id_collision': 'another message already holds this messageId with different content: this copy is kept here',
        'erased': 'a record of a person erased on request came back in a later load; no value of it is kept',
    }) }}
{%- endmacro %}


{# What happened to the row or value, in words, by disposition. #}
{% macro quality_dispositions() -%}
    {{ return({
        'value_nulled': 'value nulled, row kept',
        'value_changed': 'value changed, row kept',
        'row_flagged': 'row kept, flagged',
        'row_excluded': 'row left out of staging',
        'rejected_at_load': 'rejected at load',
    }) }}
{%- endmacro %}


{#
    quality_formatting_rules(): the normalizations that rewrite a value without changing what it means,
    so they write no quarantine row: {macro: what it does}. Documentation, checked by a pytest against
    the macros the person CTEs of the person staging models call.
#}
{% macro quality_formatting_rules() -%}
    {{ return({
        'clean_email': 'trim, lower case, a leading mailto: dropped',
        'normalize_phone_e164': 'E.164 layout: punctuation and the trunk prefix dropped, the calling code added (a number that cannot be written so is invalid_phone)',
        'clean_name': 'names, address lines and cities: runs of spaces collapsed, proper case',
        'country_iso2': 'a country name, alias or ISO3 code written as its ISO2 code (unknown: unknown_country)',
        'region_code': 'a US/CA region name written as its code; other regions kept as cleaned text',
        'normalize_postal_code': "spacing and case of the country's format (invalid: invalid_postal_code; extra characters: postal_code_shortened)",
        'to_utc_timestamp': 'timestamps converted to UTC (unreadable: invalid_date)',
        'currency_code': 'upper case, trimmed (unknown: unknown_enum)',
    }) }}
{%- endmacro %}
