{{ stage_csv_contacts('legacy_crm') }}
