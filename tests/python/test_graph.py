"""The dbt graph reads one way: every ref points down a layer (issue 12).

The rule, from each model's folder under models/:

- layers, lowest first: seeds and sources < staging < intermediate < marts < marts/activation (the
  exports: projections of the customers mart and the marts below them);
- a model may read its own layer or any lower one, never a higher one;
- within marts, a mart reads only marts of its own area (customers, commerce, engagement), never another
  area's: each area's public face is built from intermediate models, so `--select marts` and `+customers`
  mean what they say; within staging and intermediate, folders are functional and may read each other;
- a snapshot sits on the layer of what it snapshots: a model below that layer may not read it.

The test walks dbt's manifest after `dbt parse` (no warehouse needed) and fails on any ref that breaks the rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT

LAYERS = {"staging": 1, "intermediate": 2, "marts": 3}
EXPORT_AREA = "activation"  # marts/activation: one layer above the other marts
BASE_LAYER = 0  # seeds and sources


Place = tuple[int, str]  # (layer, marts area)


def _place(node: dict[str, Any], nodes: dict[str, dict[str, Any]], placed: dict[str, Place]) -> Place:
    """(layer, area) of a model, seed or snapshot."""
    unique_id = node["unique_id"]
    if unique_id in placed:
        return placed[unique_id]
    kind = node["resource_type"]
    if kind == "seed":
        place = (BASE_LAYER, "")
    elif kind == "snapshot":
        parents = [_place(nodes[p], nodes, placed) for p in node["depends_on"]["nodes"] if p in nodes]
        place = max(parents, default=(BASE_LAYER, ""))
    else:
        parts = Path(node["original_file_path"]).parts
        if len(parts) < 3 or parts[0] != "models" or parts[1] not in LAYERS:
            raise AssertionError(f"{unique_id}: a model must live under models/<staging|intermediate|marts>/")
        area = parts[2] if len(parts) > 3 else ""
        layer = LAYERS[parts[1]] + (1 if parts[1] == "marts" and area == EXPORT_AREA else 0)
        place = (layer, area if parts[1] == "marts" else "")
    placed[unique_id] = place
    return place


def upward_refs(manifest: dict[str, Any]) -> list[str]:
    """Every ref (model or snapshot reading a model, snapshot or seed) that breaks the rule above."""
    nodes = {
        unique_id: node
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot")
    }
    placed: dict[str, Place] = {}
    broken = []
    for unique_id, node in sorted(nodes.items()):
        if node["resource_type"] == "seed":
            continue
        layer, area = _place(node, nodes, placed)
        for parent_id in node["depends_on"]["nodes"]:
            if parent_id not in nodes:
                continue  # sources: the lowest layer
            parent_layer, parent_area = _place(nodes[parent_id], nodes, placed)
            if parent_layer > layer:
                broken.append(f"{unique_id} (layer {layer}) reads {parent_id} (layer {parent_layer})")
            elif parent_layer == layer == LAYERS["marts"] and parent_area != area:
                broken.append(f"{unique_id} (marts/{area}) reads {parent_id}, a mart of area {parent_area}")
    return broken


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    target = tmp_path_factory.mktemp("graph_target")
    root = str(PROJECT_ROOT)
    result = dbtRunner().invoke(
        ["parse", "--quiet", "--project-dir", root, "--profiles-dir", root, "--target-path", str(target)]
    )
    assert result.success, result.exception
    return json.loads((target / "manifest.json").read_text())


def test_no_ref_points_up_a_layer(manifest: dict[str, Any]) -> None:
    assert upward_refs(manifest) == []


def test_the_public_marts_are_built_from_intermediate_models(manifest: dict[str, Any]) -> None:
    parents = {n["name"]: n["depends_on"]["nodes"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for mart, model in [
        ("customer_identities", "int_identity__customer_map"),
        ("customer_id_history", "int_identity__customer_id_history"),
        ("orders", "int_commerce__orders"),
        ("order_items", "int_commerce__order_items"),
        ("web_sessions", "int_engagement__web_sessions"),
    ]:
        assert parents[mart] == [f"model.customer360.{model}"], mart
    # the activation marts project `customers`: the consent of the golden address is chosen once
    for export in ("email_audience", "cart_abandonment_triggers", "cart_abandonment_trigger_log"):
        assert "model.customer360.customers" in parents[export], export
        assert "model.customer360.int_customers__email_consent" not in parents[export], export
    # the suppression guard is a second implementation: it never reads the ledger or what it guards
    guard = {
        "int_engagement__suppression_guard",
        "int_engagement__suppression_evidence",
        "int_engagement__suppression_evidence_at_build",
    }
    guarded = {"customers", "int_customers__email_consent", "email_audience", "cart_abandonment_triggers"}
    for name in guard:
        assert not {p.split(".")[-1] for p in parents[name] if p.startswith("model.")} & guarded, name


def _node(name: str, path: str, parents: list[str], kind: str = "model") -> tuple[str, dict[str, Any]]:
    unique_id = f"{kind}.p.{name}"
    return unique_id, {
        "unique_id": unique_id,
        "resource_type": kind,
        "original_file_path": path,
        "depends_on": {"nodes": parents},
    }


def test_the_walk_finds_each_kind_of_upward_ref() -> None:
    manifest = {
        "nodes": dict(
            [
                _node("seed_a", "seeds/a.csv", [], "seed"),
                _node("stg_a", "models/staging/a/stg_a.sql", ["seed.p.seed_a"]),
                _node("int_a", "models/intermediate/a/int_a.sql", ["model.p.stg_a", "model.p.orders"]),
                _node("orders", "models/marts/commerce/orders.sql", ["model.p.stg_a"]),
                _node("customers", "models/marts/customers/customers.sql", ["model.p.orders"]),
                _node("audience", "models/marts/activation/audience.sql", ["model.p.customers"]),
                _node("published", "models/marts/activation/published/p.sql", ["model.p.audience"]),
                _node("snap_orders", "snapshots/s.yml", ["model.p.orders"], "snapshot"),
                _node("stg_b", "models/staging/b/stg_b.sql", ["snapshot.p.snap_orders"]),
                _node("snap_int", "snapshots/s.yml", ["model.p.int_a"], "snapshot"),
                _node("int_b", "models/intermediate/b/int_b.sql", ["snapshot.p.snap_int"]),
                _node("orders_x", "models/marts/commerce/orders_x.sql", ["model.p.audience"]),
            ]
        )
    }
    assert upward_refs(manifest) == [
        "model.p.customers (marts/customers) reads model.p.orders, a mart of area commerce",
        "model.p.int_a (layer 2) reads model.p.orders (layer 3)",
        "model.p.orders_x (layer 3) reads model.p.audience (layer 4)",
        "model.p.stg_b (layer 1) reads snapshot.p.snap_orders (layer 3)",
    ]
