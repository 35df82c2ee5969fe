"""`customer360 mapping suggest`: a mapping proposed from headers and sample values, for review."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from test_cli import assert_user_error, run_cli

from ingestion.mapping_suggest import suggest_mapping
from ingestion.sources.csv_contacts import load_csv_contacts

# A CRM export whose headers are none of the demo's, with one bad email among three.
EXPORT = (
    "Customer ID,Given Name,Surname,E-mail Address,Mobile,DOB,Zip,Country,Street,Town,Notes,Last Modified\n"
    "A-1,Ann,Lee,ann@example.com,+44 7700 900123,1980-01-02,SW1A 1AA,United Kingdom,1 High St,London,tea,"
    "2024-01-01 10:00\n"
    "A-2,Bob,Stone,bob@example.com,07700 900456,1975-03-04,LS1 4AP,UK,2 Low Rd,Leeds,,2024-02-01 11:00\n"
    "A-3,Cy,Short,cy@example.com,07700 900789,1990-12-31,EC1A 1BB,GB,,,vip,2024-03-01 12:00\n"
)


def drop(tmp_path: Path, content: str = EXPORT, name: str = "export.csv") -> Path:
    folder = tmp_path / "crm_a"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(content, encoding="utf-8")
    return folder


def test_headers_and_values_give_the_mapping(tmp_path: Path) -> None:
    suggestion = suggest_mapping(drop(tmp_path))
    assert suggestion.mapping == {
        "Customer ID": "contact_id",
        "Given Name": "first_name",
        "Surname": "last_name",
        "E-mail Address": "email",
        "Mobile": "phone",
        "DOB": "date_of_birth",
        "Zip": "postal_code",
        "Country": "country",
        "Street": "address_line1",
        "Town": "city",
        "Last Modified": "updated_at",
    }
    by_header = {c.header: c for c in suggestion.columns}
    assert by_header["E-mail Address"].confidence == "high"
    assert "100% of 3 sample values are email addresses" in by_header["E-mail Address"].reason
    assert "dates (%Y-%m-%d)" in by_header["DOB"].reason
    assert by_header["Notes"].field is None and by_header["Notes"].confidence == "none"
    review = "\n".join(suggestion.review())
    assert "unmapped (loaded as their own columns):" in review and '"Notes"' in review
    assert "no record key" not in review


def test_values_decide_when_headers_do_not(tmp_path: Path) -> None:
    content = (
        "Ref,Contact,Tel,Born,Land,Remarks\n"
        "r1,ann@example.com,+1 415 555 0101,1981-02-03,Germany,x\n"
        "r2,bob@example.com,(415) 555-0102,1972-11-30,Deutschland,y\n"
        "r3,cy@example.com,415.555.0103,1999-07-14,DE,z\n"
    )
    suggestion = suggest_mapping(drop(tmp_path, content))
    by_header = {c.header: c for c in suggestion.columns}
    assert (by_header["Contact"].field, by_header["Contact"].confidence) == ("email", "medium")
    assert "by values only" in by_header["Contact"].reason
    assert by_header["Tel"].field == "phone"
    assert by_header["Born"].field == "date_of_birth"
    assert by_header["Land"].field == "country"
    assert (by_header["Ref"].field, by_header["Ref"].confidence) == ("contact_id", "medium")
    assert by_header["Remarks"].field is None


def test_a_person_register_without_separators_or_contact_columns(tmp_path: Path) -> None:
    """A register laid out as many public person-record sets are: compact dates (19560409), a suburb, and a
    numeric id column whose digits could pass for a phone number but whose header says it is an id."""
    content = (
        "rec_id,given_name,surname,street_number,address_1,suburb,postcode,state,date_of_birth,soc_sec_id\n"
        "rec-1-org,michaela,neumann,8,stanley street,winston hills,4223,nsw,19151111,5304218\n"
        "rec-1-dup-0,michaela,neumann,8,stanley street,winston hills,4223,nsw,19151111,5304218\n"
        "rec-2-org,courtney,painter,12,pinkerton circuit,richlands,4560,vic,19161214,4066625\n"
        "rec-3-org,charles,green,38,salkauskas crescent,dapto,4566,nsw,19480930,4365168\n"
    )
    by_header = {c.header: c for c in suggest_mapping(drop(tmp_path, content)).columns}
    assert by_header["suburb"].field == "city"
    assert (by_header["date_of_birth"].field, by_header["date_of_birth"].confidence) == ("date_of_birth", "high")
    assert "%Y%m%d" in by_header["date_of_birth"].reason
    assert by_header["soc_sec_id"].field is None  # not a phone number
    assert by_header["rec_id"].field == "contact_id"


def test_a_header_the_values_contradict_is_low_confidence(tmp_path: Path) -> None:
    content = "id,Email,Phone\n1,not an address,n/a\n2,also not,none\n3,nope,-\n"
    by_header = {c.header: c for c in suggest_mapping(drop(tmp_path, content)).columns}
    assert by_header["Email"].confidence == "low" and "check the column" in by_header["Email"].reason
    assert by_header["Phone"].confidence == "low" and "check the column" in by_header["Phone"].reason


def test_one_header_per_field(tmp_path: Path) -> None:
    content = "id,Email,Work Email\n1,a@example.com,a@work.example\n2,b@example.com,b@work.example\n"
    suggestion = suggest_mapping(drop(tmp_path, content))
    assert suggestion.mapping == {"id": "contact_id", "Email": "email"}
    (work,) = [c for c in suggestion.columns if c.header == "Work Email"]
    assert work.field is None and 'which "Email" fits better' in work.reason


def test_the_demo_drops_get_their_own_mappings(demo_data: Path) -> None:
    """The generator's drops come with the mapping their vendor would write: the suggestion finds it (a header
    feeding several fields, a form's submission time, is suggested for its first; the user adds the others)."""
    for name in ("legacy_crm", "signup_forms"):
        folder = demo_data / "csv_contacts" / name
        written = json.loads((folder / "mapping.json").read_text(encoding="utf-8"))
        expected = {header: fields if isinstance(fields, str) else fields[0] for header, fields in written.items()}
        assert suggest_mapping(folder).mapping == expected, name


def test_cli_writes_a_mapping_the_loader_takes_and_never_overwrites(tmp_path: Path, warehouse: Path) -> None:
    folder = drop(tmp_path)
    out = tmp_path / "mapping.json"
    result = run_cli("mapping", "suggest", "--path", str(folder), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert re.search(r'^"E-mail Address" +email +high ', result.stdout, re.MULTILINE) and "wrote " in result.stdout
    mapping = json.loads(out.read_text())
    assert mapping["E-mail Address"] == "email"

    out.write_text("{}")  # the user's reviewed file: never replaced without --force
    result = run_cli("mapping", "suggest", "--path", str(folder), "--out", str(out))
    assert_user_error(result, "already exists", "--force")
    assert out.read_text() == "{}"
    result = run_cli("mapping", "suggest", "--path", str(folder), "--out", str(out), "--force")
    assert result.returncode == 0 and json.loads(out.read_text()) == mapping

    # no --out: the mapping on stdout, the review on stderr
    result = run_cli("mapping", "suggest", "--path", str(folder))
    assert result.returncode == 0 and json.loads(result.stdout) == mapping and "confidence" in result.stderr

    load_csv_contacts(folder, out, "crm_a")
    con = duckdb.connect(str(warehouse))
    try:
        got = con.execute("select contact_id, email, postal_code from raw_csv_contacts.crm_a order by 1").fetchall()
    finally:
        con.close()
    assert got[0] == ("A-1", "ann@example.com", "SW1A 1AA") and len(got) == 3


def test_no_key_found_is_said_and_the_load_refuses_it(tmp_path: Path, warehouse: Path) -> None:
    folder = drop(tmp_path, "Name,Surname,Email\nAnn,Lee,ann@example.com\nAnn,Lee,ann@example.com\n")
    out = tmp_path / "mapping.json"
    result = run_cli("mapping", "suggest", "--path", str(folder), "--out", str(out))
    assert result.returncode == 0 and "no record key found" in result.stdout
    assert "contact_id" not in json.loads(out.read_text()).values()
    result = run_cli("load", "csv_contacts", "--path", str(folder), "--mapping", str(out), "--source-name", "crm_a")
    assert_user_error(result, "no record key")


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [("missing", "CSV drop folder not found"), ("empty", "no CSV files"), ("latin1", "not UTF-8")],
)
def test_user_errors(tmp_path: Path, setup: str, fragment: str) -> None:
    folder = tmp_path / "d"
    if setup != "missing":
        folder.mkdir()
    if setup == "latin1":
        (folder / "x.csv").write_bytes("id,name\n1,Ren\xe9e\n".encode("latin-1"))
    assert_user_error(run_cli("mapping", "suggest", "--path", str(folder)), fragment)


def test_consent_columns_are_suggested(tmp_path: Path) -> None:
    """Hostile round 2 (H3): consent headers were left unmapped, so an exported opt-out never reached the ledger.
    Mapped, their values go through the drop's seed rows, and a value without one is read as an opt-out."""
    folder = tmp_path / "consent_drop"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "Customer ID,E-mail Address,Opt-Out?,Email Consent Date,Date Created\n"
        "1,a@example.com,Y,2025-01-01,2024-01-01\n2,b@example.com,N,2025-01-02,2024-01-02\n",
        encoding="utf-8",
    )
    assert suggest_mapping(folder).mapping == {
        "Customer ID": "contact_id",
        "E-mail Address": "email",
        "Opt-Out?": "email_consent",
        "Email Consent Date": "email_consent_updated_at",
        "Date Created": "created_at",
    }
