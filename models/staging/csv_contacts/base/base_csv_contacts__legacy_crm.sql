{{ stage_csv_contact_rows('legacy_crm') }}
