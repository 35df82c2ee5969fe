"""Static reference data: countries, names, nicknames, email domains, places, product vocabulary.

Only values that the shared normalization conventions (docs/data_contracts.md and the seeds) can
recover are listed here: country spellings from the alias seed, nicknames from the nickname seed,
domain typos from the correction seed. Adding a value here that staging cannot normalize would turn
demo noise into false mismatches.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate


@dataclass(frozen=True)
class City:
    name: str
    region_code: str
    region_name: str
    postal_prefix: str  # expanded by population.postal_code per country


@dataclass(frozen=True)
class Country:
    iso2: str
    name: str  # Shopify's country name
    weight: float
    spellings: tuple[str, ...]  # the only ways the generator writes this country
    calling_code: str
    currency: str
    tax_basis_points: int
    # A national significant number is a prefix followed by a unique 7-digit serial (see population.py).
    # Mobile and landline prefixes never overlap, so a household's landline never equals a mobile.
    mobile_prefixes: tuple[str, ...]
    landline_prefixes: tuple[str, ...]
    cities: tuple[City, ...]
    streets: tuple[str, ...]
    number_first: bool  # "12 Main St" (True) or "Hauptstraße 12" (False)
    first_names_f: tuple[str, ...]
    first_names_m: tuple[str, ...]
    last_names: tuple[str, ...]
    email_domains: tuple[str, ...]


_EN_F = (
    "Katherine", "Elizabeth", "Jennifer", "Margaret", "Susan", "Patricia", "Rebecca", "Victoria",
    "Abigail", "Amanda", "Jessica", "Megan", "Sandra", "Deborah", "Cynthia", "Emily", "Olivia",
    "Sophia", "Laura", "Sarah", "Emma", "Grace", "Chloe", "Hannah", "Natalie", "Rachel", "Lauren",
    "Michelle", "Nicole", "Zoë", "Renée", "Chloé", "María", "Sofía",
)
_EN_M = (
    "William", "Robert", "James", "Michael", "Richard", "Thomas", "Christopher", "David", "Daniel",
    "Joseph", "Anthony", "Steven", "Matthew", "Andrew", "Benjamin", "Samuel", "Nicholas", "Alexander",
    "Edward", "John", "Charles", "Henry", "Ryan", "Kevin", "Brian", "Jason", "Eric", "Adam", "Noah",
    "Ethan", "Lucas", "Oliver", "Nathan", "Aaron", "José", "Andrés",
)
_US_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernández", "López", "Wilson", "Anderson", "Taylor", "Moore", "Jackson", "White",
    "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
    "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "O'Brien", "O'Connor", "McDonald", "Nguyen",
    "Kim", "Patel", "Smith-Jones", "Peña", "Reyes", "Cruz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Sullivan", "Russell", "Foster", "Bryant", "Hayes", "Myers",
)
_GB_LAST = (
    "Taylor", "Wilson", "Evans", "Roberts", "Walker", "Wright", "Thompson", "Robinson", "Wood",
    "Hughes", "Edwards", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Turner",
    "O'Neill", "Murphy", "Cooper", "Ward", "Morris", "King", "Watson", "Harrison", "Morgan", "Baker",
    "Parker", "Price", "Bennett", "Griffiths", "Kelly", "Marshall", "Fletcher", "Ashworth-Hale",
)
_DE_F = ("Anna", "Lena", "Julia", "Sabine", "Ursula", "Katrin", "Jana", "Annika", "Jördis", "Mareike",
         "Elisabeth", "Katherine", "Sophie", "Lea", "Marie")
_DE_M = ("Jürgen", "Jörg", "Björn", "Stefan", "Thomas", "Andreas", "Markus", "Tobias", "Florian",
         "Sebastian", "Lukas", "Felix", "Matthias", "Michael", "Günter", "Uwe")
_DE_LAST = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
            "Schäfer", "Strauß", "Köhler", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder",
            "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange",
            "Weiß", "Groß", "Vogel", "Jäger", "Böhm")
_FR_F = ("Amélie", "Hélène", "Céline", "Zoé", "Léa", "Manon", "Camille", "Chloé", "Élodie", "Inès",
         "Juliette", "Margaux", "Sophie", "Nathalie", "Isabelle")
_FR_M = ("François", "Jérôme", "Stéphane", "Théo", "Hugo", "Louis", "Nicolas", "Julien", "Mathieu",
         "Sébastien", "Antoine", "Rémi", "Benoît", "Olivier", "Thomas")
_FR_LAST = ("Martin", "Bernard", "Dubois", "Lefèvre", "Rousseau", "Girard", "Lefebvre", "Fontaine",
            "Chevalier", "Moreau", "Laurent", "Simon", "Michel", "Garnier", "Faure", "André", "Mercier",
            "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Perrin", "Morel", "Mathieu", "Clément",
            "Gauthier", "Dumont", "Lopez", "Boyer", "D'Arcy")
_NL_F = ("Sanne", "Lotte", "Fleur", "Anouk", "Eva", "Femke", "Iris", "Noor", "Sophie", "Julia",
         "Maud", "Lieke")
_NL_M = ("Daan", "Sem", "Bram", "Lars", "Thijs", "Jesse", "Ruben", "Stijn", "Sven", "Søren", "Joost",
         "Pieter", "Wouter")
_NL_LAST = ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit",
            "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen",
            "Dekker", "Brouwer", "de Wit")
_CA_LAST = ("Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "Gauthier", "Morin", "Lavoie", "Fortin",
            "Gagné", "Ouellet", "Pelletier", "Bélanger", "Lévesque", "Smith", "Brown", "Wilson",
            "MacDonald", "Campbell", "Stewart", "Anderson", "Taylor", "Li", "Wong", "Singh")
_AU_LAST = ("Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Johnson", "Martin",
            "White", "Anderson", "Thompson", "Walker", "Harris", "Lee", "Ryan", "Robinson", "Kelly",
            "King", "Davies", "O'Sullivan", "McKenzie")

_US_STREETS = ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Pine St", "Elm St", "Washington Ave",
               "Lake View Rd", "Sunset Blvd", "Park Ave", "2nd St", "Hillcrest Dr", "Mission St",
               "Valencia St", "Broadway", "Market St", "Highland Ave", "Spring St")
_GB_STREETS = ("High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane",
               "Manor Road", "Park Road", "Queen's Road", "Mill Lane", "King Street")
_DE_STREETS = ("Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schulstraße", "Dorfstraße",
               "Bergstraße", "Lindenweg", "Kirchplatz", "Friedrichstraße", "Schillerstraße")
_FR_STREETS = ("Rue de la Paix", "Avenue Victor Hugo", "Rue du Moulin", "Boulevard Voltaire",
               "Rue de l'Église", "Place de la République", "Rue Pasteur", "Avenue Jean Jaurès")
_NL_STREETS = ("Kerkstraat", "Prinsengracht", "Dorpsstraat", "Stationsweg", "Molenweg", "Keizersgracht",
               "Schoolstraat", "Julianalaan")
_AU_STREETS = ("George St", "Collins St", "Queen St", "Bourke St", "Pitt St", "Elizabeth St",
               "Beach Rd", "Victoria Pde")
_CA_STREETS = ("King St W", "Queen St E", "Yonge St", "Rue Sainte-Catherine", "Granville St",
               "Bloor St W", "Jasper Ave", "Robson St", "Rue Saint-Denis", "Bank St")

COUNTRIES: tuple[Country, ...] = (
    Country(
        "US", "United States", 0.55,
        ("US", "USA", "United States", "United States of America", "U.S.A."), "1", "USD", 725,
        ("917", "646", "415", "650", "312", "206", "512", "305", "503", "702", "617", "404"),
        ("212", "718", "510", "408", "773", "425", "737", "786", "971", "213", "857", "470"),
        (
            City("San Francisco", "CA", "California", "941"), City("Los Angeles", "CA", "California", "900"),
            City("New York", "NY", "New York", "100"), City("Brooklyn", "NY", "New York", "112"),
            City("Chicago", "IL", "Illinois", "606"), City("Austin", "TX", "Texas", "787"),
            City("Houston", "TX", "Texas", "770"), City("Seattle", "WA", "Washington", "981"),
            City("Boston", "MA", "Massachusetts", "021"), City("Denver", "CO", "Colorado", "802"),
            City("Atlanta", "GA", "Georgia", "303"), City("Miami", "FL", "Florida", "331"),
            City("Portland", "OR", "Oregon", "972"), City("Phoenix", "AZ", "Arizona", "850"),
            City("Minneapolis", "MN", "Minnesota", "554"), City("Washington", "DC", "District of Columbia", "200"),
        ),
        _US_STREETS, True, _EN_F, _EN_M, _US_LAST,
        ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
         "aol.com", "comcast.net", "proton.me"),
    ),
    Country(
        "GB", "United Kingdom", 0.12, ("GB", "UK", "United Kingdom", "Great Britain"), "44", "GBP", 2000,
        ("740", "750", "770", "780", "790", "745"),
        ("207", "208", "203", "161", "131", "117"),
        (
            City("London", "ENG", "England", "SW1A"), City("London", "ENG", "England", "E1"),
            City("Manchester", "ENG", "England", "M1"), City("Edinburgh", "SCT", "Scotland", "EH1"),
            City("Bristol", "ENG", "England", "BS1"), City("Leeds", "ENG", "England", "LS1"),
            City("Cardiff", "WLS", "Wales", "CF10"),
        ),
        _GB_STREETS, True, _EN_F, _EN_M, _GB_LAST,
        ("gmail.com", "gmail.com", "hotmail.co.uk", "yahoo.co.uk", "outlook.com", "btinternet.com",
         "icloud.com"),
    ),
    Country(
        "CA", "Canada", 0.10, ("CA", "CAN", "Canada"), "1", "CAD", 1300,
        ("416", "647", "604", "778", "514"),
        ("438", "403", "587", "613", "902"),
        (
            City("Toronto", "ON", "Ontario", "M5V"), City("Vancouver", "BC", "British Columbia", "V6B"),
            City("Montréal", "QC", "Quebec", "H2X"), City("Calgary", "AB", "Alberta", "T2P"),
            City("Ottawa", "ON", "Ontario", "K1P"), City("Halifax", "NS", "Nova Scotia", "B3H"),
        ),
        _CA_STREETS, True, _EN_F, _EN_M, _CA_LAST,
        ("gmail.com", "gmail.com", "hotmail.com", "yahoo.ca", "outlook.com", "icloud.com", "videotron.ca"),
    ),
    Country(
        "DE", "Germany", 0.08, ("DE", "DEU", "Germany", "Deutschland"), "49", "EUR", 1900,
        ("151", "160", "171", "176", "1512", "1577"),
        ("301", "302", "891", "892", "401", "221"),
        (
            City("Berlin", "BE", "Berlin", "101"), City("München", "BY", "Bayern", "803"),
            City("Hamburg", "HH", "Hamburg", "200"), City("Köln", "NW", "Nordrhein-Westfalen", "506"),
            City("Frankfurt am Main", "HE", "Hessen", "603"), City("Leipzig", "SN", "Sachsen", "041"),
        ),
        _DE_STREETS, False, _DE_F, _DE_M, _DE_LAST,
        ("gmail.com", "gmx.de", "web.de", "t-online.de", "outlook.com", "yahoo.com"),
    ),
    Country(
        "FR", "France", 0.06, ("FR", "FRA", "France"), "33", "EUR", 2000,
        ("61", "62", "66", "67", "77", "78"),
        ("14", "15", "47", "45", "49", "42"),
        (
            City("Paris", "IDF", "Île-de-France", "750"), City("Lyon", "ARA", "Auvergne-Rhône-Alpes", "690"),
            City("Marseille", "PAC", "Provence-Alpes-Côte d'Azur", "130"),
            City("Toulouse", "OCC", "Occitanie", "310"), City("Nantes", "PDL", "Pays de la Loire", "440"),
        ),
        _FR_STREETS, True, _FR_F, _FR_M, _FR_LAST,
        ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "outlook.com", "yahoo.fr"),
    ),
    Country(
        "AU", "Australia", 0.05, ("AU", "AUS", "Australia"), "61", "AUD", 1000,
        ("41", "42", "43", "44", "45", "47"),
        ("29", "28", "39", "38", "73", "86"),
        (
            City("Sydney", "NSW", "New South Wales", "20"), City("Melbourne", "VIC", "Victoria", "30"),
            City("Brisbane", "QLD", "Queensland", "40"), City("Perth", "WA", "Western Australia", "60"),
            City("Adelaide", "SA", "South Australia", "50"),
        ),
        _AU_STREETS, True, _EN_F, _EN_M, _AU_LAST,
        ("gmail.com", "gmail.com", "bigpond.com", "outlook.com", "hotmail.com", "icloud.com", "optusnet.com.au"),
    ),
    Country(
        "NL", "Netherlands", 0.04, ("NL", "NLD", "Netherlands", "The Netherlands", "Holland"), "31", "EUR", 2100,
        ("61", "62", "63", "64", "65", "68"),
        ("20", "10", "30", "70"),
        (
            City("Amsterdam", "NH", "Noord-Holland", "10"), City("Rotterdam", "ZH", "Zuid-Holland", "30"),
            City("Utrecht", "UT", "Utrecht", "35"), City("Den Haag", "ZH", "Zuid-Holland", "25"),
            City("Eindhoven", "NB", "Noord-Brabant", "56"),
        ),
        _NL_STREETS, False, _NL_F, _NL_M, _NL_LAST,
        ("gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.com", "outlook.com", "live.nl"),
    ),
)
COUNTRY_BY_ISO2 = {country.iso2: country for country in COUNTRIES}
# Cumulative weights for random.choices(cum_weights=...): same draws as weights=, without re-summing each call.
COUNTRY_CUM_WEIGHTS = tuple(accumulate(country.weight for country in COUNTRIES))

# Shopify shows every shopper prices in their own currency; conversion from the USD catalogue price.
CURRENCY_RATE = {"USD": 1.0, "CAD": 1.35, "GBP": 0.79, "EUR": 0.92, "AUD": 1.5}

# The nickname seed's entries for the canonical given names above (nickname -> canonical, lower-case).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "william": ("Bill", "Billy", "Will", "Willy", "Liam"),
    "robert": ("Bob", "Bobby", "Rob", "Robbie"),
    "james": ("Jim", "Jimmy"),
    "michael": ("Mike", "Mikey"),
    "richard": ("Dick", "Rick", "Ricky"),
    "thomas": ("Tom", "Tommy"),
    "christopher": ("Chris",),
    "david": ("Dave",),
    "daniel": ("Dan", "Danny"),
    "joseph": ("Joe", "Joey"),
    "anthony": ("Tony",),
    "steven": ("Steve",),
    "matthew": ("Matt",),
    "andrew": ("Andy", "Drew"),
    "benjamin": ("Ben",),
    "samuel": ("Sam",),
    "nicholas": ("Nick",),
    "alexander": ("Alex",),
    "edward": ("Ed", "Eddie", "Ted"),
    "john": ("Jack", "Johnny"),
    "charles": ("Charlie", "Chuck"),
    "henry": ("Hank", "Harry"),
    "katherine": ("Kate", "Katie", "Kathy", "Cathy"),
    "elizabeth": ("Liz", "Beth", "Betty", "Lizzie"),
    "jennifer": ("Jen", "Jenny"),
    "margaret": ("Maggie", "Peggy"),
    "susan": ("Sue", "Susie"),
    "patricia": ("Patty", "Trish"),
    "rebecca": ("Becky",),
    "victoria": ("Vicky",),
    "abigail": ("Abby",),
    "amanda": ("Mandy",),
    "jessica": ("Jess",),
    "megan": ("Meg",),
    "sandra": ("Sandy",),
    "deborah": ("Debbie",),
    "cynthia": ("Cindy",),
}

# The email-domain correction seed, grouped by the domain they misspell.
DOMAIN_TYPOS: dict[str, tuple[str, ...]] = {
    "gmail.com": ("gmial.com", "gmai.com", "gamil.com", "gmail.con", "gmail.co", "gnail.com"),
    "hotmail.com": ("hotmial.com", "hotmal.com", "hotmail.con"),
    "yahoo.com": ("yaho.com", "yahooo.com", "yahoo.con"),
    "outlook.com": ("outlok.com", "outloo.com"),
    "icloud.com": ("iclod.com", "icloud.con"),
}
# Domains a guest or a second account may use when the person wants an address nobody else knows.
ALT_EMAIL_DOMAINS = ("mail.com", "hey.com", "fastmail.com", "zoho.com", "gmx.com", "yandex.com")

ROLE_LOCAL_PARTS = ("info", "sales", "support", "admin", "contact", "office", "hello", "team", "billing",
                    "marketing", "enquiries")

COMPANY_WORDS_A = ("North", "Blue", "Bright", "Summit", "Pioneer", "Silver", "Cedar", "Harbor", "Golden",
                   "Evergreen", "Atlas", "Crescent", "Granite", "Maple", "Riverside", "Sterling",
                   "Horizon", "Oak", "Lumen", "Vertex")
COMPANY_WORDS_B = ("Trading", "Outfitters", "Labs", "Partners", "Studio", "Supply", "Works", "Logistics",
                   "Consulting", "Foods", "Design", "Media", "Health", "Systems", "Goods", "Retail")
JOB_TITLES = ("Buyer", "Office Manager", "Purchasing Lead", "Owner", "Marketing Manager", "Designer",
              "Operations Director", "Engineer", "Store Manager", "Consultant", "Teacher", "Nurse",
              "Analyst", "Founder", "Procurement Specialist")

PRODUCT_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[int, int]]] = {
    # category: (nouns, (min, max) USD price in whole dollars)
    "Shoes": (("Runner", "Sneaker", "Loafer", "Boot", "Sandal", "Trail Shoe"), (45, 180)),
    "Outerwear": (("Parka", "Rain Jacket", "Puffer", "Trench Coat", "Fleece", "Windbreaker"), (60, 320)),
    "Tops": (("Tee", "Oxford Shirt", "Sweater", "Hoodie", "Polo", "Cardigan"), (18, 110)),
    "Bottoms": (("Chino", "Jean", "Jogger", "Skirt", "Short", "Legging"), (25, 130)),
    "Accessories": (("Beanie", "Scarf", "Belt", "Wallet", "Sunglasses", "Cap"), (12, 90)),
    "Bags": (("Tote", "Backpack", "Duffel", "Crossbody Bag", "Weekender"), (35, 240)),
    "Home": (("Throw Blanket", "Candle", "Mug Set", "Cushion", "Towel Set", "Vase"), (15, 140)),
    "Beauty": (("Face Cream", "Lip Balm", "Shampoo", "Body Lotion", "Serum", "Perfume"), (8, 95)),
    "Kids": (("Kids Tee", "Kids Rain Boot", "Onesie", "Kids Hoodie", "Plush Bear"), (10, 60)),
    "Sportswear": (("Running Tight", "Sports Bra", "Training Short", "Track Jacket", "Yoga Mat"), (20, 120)),
}
PRODUCT_ADJECTIVES = ("Classic", "Everyday", "Heritage", "Urban", "Coastal", "Alpine", "Essential",
                      "Relaxed", "Organic", "Vintage", "Merino", "Recycled", "Lightweight", "Premium")
PRODUCT_VENDORS = ("Northfield", "Kestrel & Co", "Bramble", "Lumen Goods", "Atlas Supply", "Fjordline")
PRODUCT_SIZES = ("S", "M", "L", "XL")

USER_AGENTS = {
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    ),
}
CAMPAIGNS = (
    ("newsletter", "email", "spring_sale"), ("newsletter", "email", "weekly_digest"),
    ("google", "cpc", "brand_search"), ("facebook", "social", "retargeting"),
    ("instagram", "social", "new_arrivals"), ("affiliate", "referral", "partner_blog"),
)
REFERRERS = ("https://www.google.com/", "https://www.facebook.com/", "https://www.instagram.com/", "",
             "https://duckduckgo.com/", "https://t.co/")

_FOLD_SPECIAL = {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE"}


@lru_cache(maxsize=4096)
def fold_accents(text: str) -> str:
    """ASCII folding the staging match key also applies (é->e, ü->u, ø->o, ß->ss)."""
    for special, plain in _FOLD_SPECIAL.items():
        text = text.replace(special, plain)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=4096)
def email_letters(text: str) -> str:
    """Lower-case ASCII letters of a name, for email local parts (O'Brien -> obrien, van Dijk -> vandijk)."""
    return "".join(ch for ch in fold_accents(text).lower() if "a" <= ch <= "z")
