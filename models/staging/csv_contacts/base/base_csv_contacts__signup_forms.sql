{{ stage_csv_contact_rows('signup_forms') }}
