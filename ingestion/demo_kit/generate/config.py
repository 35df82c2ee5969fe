"""Tunable constants of the demo population: coverage per source, noise and defect rates, sizes.

Everything the generator decides at random is weighted by a constant here, so the shape of the demo
(how many people HubSpot knows, how messy the CSV drops are ...) can be changed in one place. Rates are
per person unless the name says otherwise.
"""

from __future__ import annotations

# -- size and layout --------------------------------------------------------------------------------
CHUNK_SIZE = 10_000  # people per chunk; also the unit of Segment files (events-<chunk>.jsonl)
HOUSEHOLD_BLOCK = 4  # households are carved out of aligned blocks of this many consecutive people
EVENTS_DAYS = 60  # Segment events only cover this many days before as_of
HISTORY_DAYS = 3 * 365  # every timestamp falls in this many days before as_of
# Limited by the unique 7-digit serials behind emails and phone numbers (see population.py).
MAX_PEOPLE = 4_000_000

# -- coverage: the share of people each source system knows ------------------------------------------
P_HUBSPOT = 0.55
P_SHOPIFY_ACCOUNT = 0.45
P_GUEST_ONLY = 0.10  # of all people: buyers who only ever checked out as guests
P_SEGMENT = 0.65
P_LEGACY_CRM = 0.30
P_SIGNUP_FORMS = 0.20
VISITORS_EVERY = 5  # one anonymous-only web visitor (entity V...) per this many people

# -- life events ------------------------------------------------------------------------------------
P_EMAIL_CHANGED = 0.12  # got a new personal email during the history; older records keep the old one
P_HOUSEHOLD_MOVED = 0.12  # the household moved; older records keep the old address
P_UNSUBSCRIBED = 0.08
P_BOUNCED = 0.02
BOUNCE_DAYS = 120
P_SHARED_LANDLINE = 0.55  # multi-person households with one home phone written on every member's records
P_SINGLE_LANDLINE = 0.15
P_SHARED_SURNAME = 0.7  # household members who share the head's last name

# -- duplicates inside one system --------------------------------------------------------------------
P_HUBSPOT_DUPLICATE = 0.04  # a second live contact for the same person
P_HUBSPOT_MERGED = 0.02  # a contact that absorbed 1-2 merged (now archived) contacts
P_HUBSPOT_ROLE_EMAIL = 0.05  # contact filed under the company's role address (info@, sales@ ...)
P_SHOPIFY_SECOND_ACCOUNT = 0.03  # another customer account with another email
P_GUEST_CHECKOUT = 0.08  # of an account holder's orders, placed as a guest
P_GUEST_NEW_EMAIL = 0.35  # a guest checkout with an email no other system knows
P_LEGACY_DUPLICATE = 0.03
P_LEGACY_REEXPORT = 0.5  # chance a legacy contact is exported again in each later export
P_SIGNUP_TWICE = 0.15

# -- value noise (per written value) ------------------------------------------------------------------
P_NAME_CASE = 0.08  # JOHN / john
P_NAME_SPACES = 0.05
P_ACCENT_DROPPED = 0.35  # José -> Jose, when the name has accents
P_NICKNAME = 0.25  # Bill for William, when the name has nicknames
P_SURNAME_TYPO = 0.03
P_EMAIL_CASE = 0.10
P_EMAIL_SPACES = 0.04
P_EMAIL_MAILTO = 0.02
P_EMAIL_DOMAIN_TYPO = 0.04
P_EMAIL_PLUS_TAG = 0.10  # Shopify and sign-up forms only
P_PHONE_MISSING = 0.2
P_LANDLINE_INSTEAD = 0.35  # write the household's home phone instead of the mobile, when there is one
P_COUNTRY_MISSING = 0.08
P_DOB_PRESENT_HUBSPOT = 0.45
P_DOB_PRESENT_LEGACY = 0.55
P_DOB_PRESENT_SIGNUP = 0.6

# -- Shopify -------------------------------------------------------------------------------------------
PRODUCTS = 200
MAX_ORDERS = 8
P_REFUND = 0.05
P_DISCOUNT = 0.25
FREE_SHIPPING_CENTS = 7_500

# -- Segment -------------------------------------------------------------------------------------------
P_DEVICE_IDENTIFIES_ACCOUNT = 0.85
P_DEVICE_IDENTIFIES_NO_ACCOUNT = 0.6
P_SERVER_SIDE_ORDER = 0.3  # Order Completed sent from the backend with userId only
P_LATE_EVENT = 0.02  # received the day after its timestamp (offline mobile)
P_REDELIVERED = 0.01  # the same message delivered twice
P_CAMPAIGN_SESSION = 0.25
P_CHECKOUT_ABANDONED_SESSION = 0.2

# -- planted defects -------------------------------------------------------------------------------------
# Person i carries defect kind k when i % DEFECT_PERIOD == DEFECT_PHASE + k * DEFECT_STEP. A schedule
# rather than a coin flip guarantees every kind at least once from 250 people on (and ~4 per 1,000
# people each), independent of chunking. See defects.py for the kinds.
DEFECT_PERIOD = 250
DEFECT_STEP = 9
DEFECT_PHASE = 3
