"""The dbt docs site: generated in the tests, opened in headless Chromium, lineage of `email_audience` checked.

`dbt docs generate --static` writes one self-contained page. Chromium loads it at the lineage view of
`email_audience`; the dbt docs app draws the graph on a canvas, so the test injects a small probe script
into a copy of the page that writes the graph's *visible* node ids into the DOM, then reads them back with
`--dump-dom`. The expected sources are not hard-coded: they are every source upstream of `email_audience`
in dbt's own manifest, which must also cover each source system. A screenshot of the lineage view is saved
to ``target/lineage_email_audience.png`` (printed by the test) so a person can look at it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import DBT_TARGET_DIR

MODEL = "model.customer360.email_audience"
# The model page with its lineage graph expanded (g_v=1) and focused on the model and its ancestors
# (g_i = the graph's --select box: "+email_audience").
LINEAGE_FRAGMENT = f"#!/model/{MODEL}?g_v=1&g_i=%2Bemail_audience"
SCREENSHOT = DBT_TARGET_DIR / "lineage_email_audience.png"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
PROBE_ID = "c360-lineage-probe"
# Reads the docs app's graph service every 250 ms and writes what the lineage view shows into a <pre>
# (rewritten each time, so the DOM Chromium dumps when its virtual time budget runs out holds the final
# view), because --dump-dom can read the DOM but not the canvas cytoscape paints the graph on.
PROBE_SCRIPT = """
<script>
(function () {
  function probe() {
    try {
      var graph = angular.element(document.body).injector().get('graph').graph;
      var shown = (graph.elements || []).filter(function (el) {
        return el.data && el.data.display === 'element' && el.data.unique_id && !el.data.source;
      }).map(function (el) { return el.data.unique_id; });
      var pre = document.getElementById('__PROBE_ID__');
      if (!pre) {
        pre = document.createElement('pre');
        pre.id = '__PROBE_ID__';
        document.body.appendChild(pre);
      }
      pre.textContent = JSON.stringify({
        shown: shown,
        total: (graph.elements || []).filter(function (el) { return el.data && !el.data.source; }).length,
        canvases: document.querySelectorAll('canvas').length
      });
    } catch (e) { /* the app is not up yet */ }
    setTimeout(probe, 250);
  }
  setTimeout(probe, 250);
})();
</script>
""".replace("__PROBE_ID__", PROBE_ID)


def _chromium() -> str:
    """The Chromium binary: a system dependency that the test command (tests/check.sh) installs.

    A bare `pytest` run without Chromium skips these tests; the test command sets CUSTOMER360_REQUIRE_CHROMIUM so
    that CI fails instead of skipping.
    """
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install --no-install-recommends chromium; tests/check.sh does it)"
    if os.environ.get("CUSTOMER360_REQUIRE_CHROMIUM"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _ancestors(manifest: dict[str, Any], node: str) -> set[str]:
    """Every node that `node` depends on, directly or through other nodes (from dbt's parent map)."""
    parents: dict[str, list[str]] = manifest["parent_map"]
    seen: set[str] = set()
    stack = [node]
    while stack:
        for parent in parents.get(stack.pop(), []):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


@pytest.fixture(scope="module")
def docs_site(built_warehouse: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`dbt docs generate --static` against the session's built demo warehouse, so the catalog lists every
    column the models really have (not only the documented ones)."""
    from ingestion.dbt_runner import run_dbt

    target = tmp_path_factory.mktemp("docs_target")
    with pytest.MonkeyPatch.context() as env:
        # docs generate only reads the warehouse (the catalog); it builds nothing
        env.setenv("CUSTOMER360_DUCKDB_PATH", str(built_warehouse.path))
        outcome = run_dbt(["docs", "generate", "--static", "--target-path", str(target)])
    assert outcome.success, f"dbt docs generate failed: {outcome.failures}"
    assert (target / "static_index.html").is_file()
    return target


def test_lineage_graph_of_email_audience_shows_its_sources(docs_site: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    manifest = json.loads((docs_site / "manifest.json").read_text())
    ancestors = _ancestors(manifest, MODEL)
    expected = {n for n in ancestors if n.startswith("source.")}
    systems = {manifest["sources"][s]["source_name"] for s in expected}
    # email_audience personalizes from every silo: a lineage missing one would be a modelling bug.
    assert {"hubspot", "shopify", "segment", "csv_contacts"} <= systems, systems

    page = tmp_path / "lineage.html"
    html = (docs_site / "static_index.html").read_text()
    page.write_text(html.replace("</body>", PROBE_SCRIPT + "</body>", 1) if "</body>" in html else html + PROBE_SCRIPT)
    url = f"{page.as_uri()}{LINEAGE_FRAGMENT}"
    dump = _run_chromium(chromium, tmp_path / "profile-dom", "--virtual-time-budget=20000", "--dump-dom", url)
    match = re.search(rf'<pre id="{PROBE_ID}">(.*?)</pre>', dump.stdout, re.S)
    assert match, f"the lineage graph never rendered; chromium said: {dump.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    shown = set(probe["shown"])
    assert probe["canvases"] > 0, "the graph has no canvas: nothing was drawn"
    assert MODEL in shown
    assert expected <= shown, f"sources missing from the lineage graph: {sorted(expected - shown)}"
    # focused: nothing downstream or unrelated is drawn
    assert shown <= ancestors | {MODEL}, f"not upstream of email_audience: {sorted(shown - ancestors - {MODEL})}"

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    shot = _run_chromium(
        chromium,
        tmp_path / "profile-shot",
        "--window-size=2400,1400",
        "--virtual-time-budget=20000",
        f"--screenshot={SCREENSHOT}",
        f"{(docs_site / 'static_index.html').as_uri()}{LINEAGE_FRAGMENT}",
    )
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 20_000, f"no screenshot: {shot.stderr[-2000:]}"
    print(f"\nlineage screenshot of email_audience: {SCREENSHOT}")


PII_COLUMN_NAMES = {
    "email",
    "email_match_key",
    "phone_e164",
    "first_name",
    "last_name",
    "date_of_birth",
    "address_line1",
    "address_line2",
}


def test_every_node_is_documented_and_pii_is_marked(docs_site: Path) -> None:
    """Every model, column, source, seed, snapshot, macro and exposure of the project has a description,
    and columns that hold personal data carry `meta: {pii: true}`."""
    manifest = json.loads((docs_site / "manifest.json").read_text())
    catalog = json.loads((docs_site / "catalog.json").read_text())
    missing: list[str] = []
    unmarked: list[str] = []
    documented = [
        *(n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed", "snapshot")),
        *manifest["sources"].values(),
    ]
    for node in documented:
        if node["package_name"] != "customer360":
            continue
        if not node.get("description", "").strip():
            missing.append(node["unique_id"])
        # Columns that exist in the warehouse (catalog) must be documented in yml, not only the declared ones.
        actual = catalog["nodes"].get(node["unique_id"]) or catalog["sources"].get(node["unique_id"]) or {}
        names = {c.lower() for c in node["columns"]} | {c.lower() for c in actual.get("columns", {})}
        declared = {c.lower(): v for c, v in node["columns"].items()}
        for column in sorted(names):
            if column.startswith("_dlt") or column.startswith("dbt_"):
                continue  # dlt's and dbt's bookkeeping columns are documented once, in the overview
            info = declared.get(column)
            if info is None or not info.get("description", "").strip():
                missing.append(f"{node['unique_id']}.{column}")
            elif column in PII_COLUMN_NAMES and not (info.get("meta") or {}).get("pii"):
                unmarked.append(f"{node['unique_id']}.{column}")
    for macro in manifest["macros"].values():
        if macro["package_name"] == "customer360" and not macro.get("description", "").strip():
            missing.append(macro["unique_id"])
    for exposure in manifest["exposures"].values():
        if not exposure.get("description", "").strip():
            missing.append(exposure["unique_id"])
    assert {"exposure.customer360.email_audience_export", "exposure.customer360.cart_abandonment_flow"} <= set(
        manifest["exposures"]
    )
    assert not missing, f"{len(missing)} undocumented: {missing[:40]}"
    assert not unmarked, f"PII columns without meta.pii: {unmarked[:40]}"
