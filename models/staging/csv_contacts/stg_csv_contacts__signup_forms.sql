{{ stage_csv_contacts('signup_forms') }}
