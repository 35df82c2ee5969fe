"""The matcher's parameters, learnt from this warehouse's records at build time (unsupervised).

One row per (comparison, level) with m = P(level | same person), u = P(level | different people) and
the level's weight log2(m / u) in bits, plus one row ``prior / match`` whose m is the prior λ (the
share of record pairs still to decide that are matches) and whose weight is log2(λ / (1 - λ)).

How (Fellegi-Sunter with expectation-maximisation, EM):
* u is fixed, measured over random pairs and value counts (int_identity__u_probabilities).
* m is learnt by EM inside each training block (int_identity__training_patterns: the counts of each
  distinct comparison pattern among pairs that agree on the block's key, e.g. the same date of
  birth). Each block learns the m of the comparisons it does not fix, and its own share of matches
  λ_B. A comparison the block `ignores` depends on the key among different people (namesakes live in
  the same places more than random pairs do), so the random-pair u does not hold there: its u is
  counted inside the block over the pairs that are certainly two people (dates of birth in different
  years, more than a slip apart), and EM learns its m with that u; with fewer such pairs than
  identity_min_pairs_for_estimate, its m (learnt by the other blocks) is only held in the likelihood.
  The m of a comparison is the average over the blocks that learn it, weighed by the expected
  matches each block saw with the value present.
* The prior: a block's matches (λ_B · its pairs) are the share r_B of all matches that agree on the
  block's key, r_B = P(both records have the key's values | match) · P(the key's levels | match), both
  learnt by the *other* blocks (the first is the share of their matches with a value on both sides).
  So all matches ≈ λ_B · pairs_B / r_B, and λ = that over all pairs between different strong
  clusters (averaged over the blocks where it can be computed).
* A comparison that no block could learn (fewer expected matches with a value than
  identity_min_pairs_for_estimate) keeps the seed's m (m_from = 'seed'); the seed is also EM's
  starting point. Email, phone and source-stated links are not needed: they only make the strong
  clusters that training leaves out.

em_converged is false when a block that taught this row hit identity_em_max_iterations before its
parameters moved less than identity_em_tolerance; the test identity_em_converged warns about it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

COMPARISONS = ("first_name", "last_name", "date_of_birth", "email", "phone", "location")
SMOOTHING = 0.5  # pseudo-pairs per level in the m-step (Jeffreys prior): no level gets m = 0
# Levels that share another level's m and only change u: a surname or phone shared at one home is an
# exact agreement, whose u is the one among different people at one home.
M_OF = {"exact_at_home": "exact"}


def _rows(relation: Any) -> list[dict[str, Any]]:
    columns = relation.columns
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


def _normalized(values: dict[str, float]) -> dict[str, float]:
    total = sum(values.values())
    return {level: value / total for level, value in values.items()}


def run_em(
    patterns: list[tuple[dict[str, str], float]],
    trained: list[str],
    m_start: dict[str, dict[str, float]],
    u: dict[str, dict[str, float]],
    max_iterations: int,
    tolerance: float,
    held: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """EM over pattern counts with u fixed: returns m per trained comparison, λ, expected matches
    per comparison (pairs with a value, weighed by their match probability), the share of matches
    with a value on both sides (present), iterations, converged. ``held``: comparisons whose m (learnt
    elsewhere) enters the likelihood but is not updated."""
    held = held or {}
    m = {comparison: dict(m_start[comparison]) for comparison in trained}
    share = 0.5
    iterations = 0
    converged = False
    expected: dict[str, float] = {comparison: 0.0 for comparison in trained}
    present: dict[str, float] = {comparison: 0.0 for comparison in trained}
    while iterations < max_iterations:
        iterations += 1
        match_pairs = 0.0
        total_pairs = 0.0
        level_pairs: dict[str, dict[str, float]] = {c: defaultdict(float) for c in trained}
        for levels, pairs in patterns:
            log_m = math.log(share)
            log_u = math.log(1.0 - share)
            for comparison in (*trained, *held):
                level = levels[comparison]
                if level != "null":
                    log_m += math.log((m.get(comparison) or held[comparison])[M_OF.get(level, level)])
                    log_u += math.log(u[comparison][level])
            # P(match | pattern), computed stably in log space
            probability = 1.0 / (1.0 + math.exp(min(log_u - log_m, 700.0)))
            match_pairs += pairs * probability
            total_pairs += pairs
            for comparison in trained:
                level = levels[comparison]
                if level != "null":
                    level_pairs[comparison][M_OF.get(level, level)] += pairs * probability
        new_share = min(max(match_pairs / total_pairs, 1e-9), 1.0 - 1e-9)
        change = abs(new_share - share)
        for comparison in trained:
            levels_seen = level_pairs[comparison]
            expected[comparison] = sum(levels_seen.values())
            present[comparison] = expected[comparison] / max(match_pairs, 1e-300)
            new_m = _normalized({level: levels_seen.get(level, 0.0) + SMOOTHING for level in m[comparison]})
            change = max(change, *(abs(new_m[level] - m[comparison][level]) for level in new_m))
            m[comparison] = new_m
        share = new_share
        if change < tolerance:
            converged = True
            break
    return {
        "m": m,
        "share": share,
        "matches": share * sum(pairs for _, pairs in patterns),
        "expected": expected,
        "present": present,
        "iterations": iterations,
        "converged": converged,
    }


def model(dbt: Any, session: Any) -> Any:
    import pyarrow as pa

    dbt.config(materialized="table")
    max_iterations = int(dbt.config.get("em_max_iterations"))
    tolerance = float(dbt.config.get("em_tolerance"))
    min_matches = float(dbt.config.get("min_pairs_for_estimate"))

    seed = _rows(dbt.ref("identity_match_weights"))
    u_rows = _rows(dbt.ref("int_identity__u_probabilities"))
    # in one order every build: the EM sums floats over the patterns, and a query's row order is not fixed
    pattern_rows = sorted(
        _rows(dbt.ref("int_identity__training_patterns")),
        key=lambda row: (
            str(row["training_block"]),
            *(str(row[f"{comparison}_level"]) for comparison in COMPARISONS),
            bool(row["is_certainly_different"]),
            float(row["pairs"]),
        ),
    )

    levels_of: dict[str, list[str]] = defaultdict(list)
    seed_m: dict[str, dict[str, float]] = defaultdict(dict)
    u: dict[str, dict[str, float]] = defaultdict(dict)
    u_from: dict[tuple[str, str], str] = {}
    for row in seed:
        if row["level"] == "null":
            continue
        levels_of[row["comparison"]].append(row["level"])
        if row["level"] not in M_OF:
            seed_m[row["comparison"]][row["level"]] = float(row["m_probability"])
        u[row["comparison"]][row["level"]] = float(row["u_probability"])
        u_from[(row["comparison"], row["level"])] = "seed"
    for row in u_rows:
        if row["level"] in u[row["comparison"]] and row["u_probability"] is not None:
            u[row["comparison"]][row["level"]] = float(row["u_probability"])
            u_from[(row["comparison"], row["level"])] = str(row["u_method"])
    start = {comparison: _normalized(seed_m[comparison]) for comparison in COMPARISONS}

    blocks: dict[str, dict[str, Any]] = {}
    for row in pattern_rows:
        block = blocks.setdefault(
            row["training_block"],
            {
                "fixes": [c for c in str(row["fixed_comparisons"]).split(",") if c],
                "ignores": [c for c in str(row["ignored_comparisons"] or "").split(",") if c],
                "patterns": [],
                "two_people": defaultdict(lambda: defaultdict(float)),
                "key_levels": defaultdict(set),
                "block_pairs": float(row["block_pairs"]),
                "block_records": float(row["block_records"]),
                "total_records": float(row["total_records"]),
                "population_pairs": float(row["population_pairs"]),
            },
        )
        levels = {comparison: str(row[f"{comparison}_level"]) for comparison in COMPARISONS}
        block["patterns"].append((levels, float(row["pairs"])))
        if row["is_certainly_different"]:
            for comparison in block["ignores"]:
                if levels[comparison] != "null":
                    block["two_people"][comparison][levels[comparison]] += float(row["pairs"])
        for comparison in block["fixes"]:
            block["key_levels"][comparison].add(levels[comparison])

    def combine(fits: dict[str, dict[str, Any]]) -> tuple[dict, dict, dict, dict]:
        """m per comparison: the blocks' estimates weighed by the matches they saw with a value."""
        m: dict[str, dict[str, float]] = {}
        m_from: dict[str, str] = {}
        support: dict[str, float] = {}
        taught_by: dict[str, list[str]] = {}
        for comparison in COMPARISONS:
            teachers = [n for n, fit in fits.items() if comparison in fit["m"] and fit["expected"][comparison] > 0]
            weight = sum(fits[n]["expected"][comparison] for n in teachers)
            support[comparison] = weight
            if weight >= min_matches:
                m[comparison] = {
                    level: sum(fits[n]["m"][comparison][level] * fits[n]["expected"][comparison] for n in teachers)
                    / weight
                    for level in start[comparison]
                }
                m_from[comparison] = "em"
                taught_by[comparison] = teachers
            else:
                m[comparison] = start[comparison]
                m_from[comparison] = "seed"
                taught_by[comparison] = []
        return m, m_from, support, taught_by

    # First the blocks that learn every comparison they do not fix; then the blocks that ignore some,
    # with the ignored comparisons' m (from the first round) held in their likelihood.
    fits: dict[str, dict[str, Any]] = {}
    for name, block in sorted(blocks.items()):
        if not block["ignores"]:
            trained = [c for c in COMPARISONS if c not in block["fixes"]]
            fits[name] = run_em(block["patterns"], trained, start, u, max_iterations, tolerance)
    first_m, first_from, _, _ = combine(fits)
    within_block_u: dict[str, dict[str, float]] = {}
    for name, block in sorted(blocks.items()):
        if block["ignores"]:
            # u of an ignored comparison inside the block, over its certainly-different pairs (Jeffreys
            # smoothing as for sampled u); too few such pairs: its m is held, not learnt here.
            block_u = {comparison: dict(levels) for comparison, levels in u.items()}
            counted = []
            for comparison in block["ignores"]:
                seen = block["two_people"][comparison]
                if sum(seen.values()) >= min_matches:
                    block_u[comparison] = _normalized(
                        {level: seen.get(level, 0.0) + SMOOTHING for level in u[comparison]}
                    )
                    counted.append(comparison)
            within_block_u[name] = {c: block_u[c] for c in counted}
            trained = [
                c for c in COMPARISONS if c not in block["fixes"] and (c not in block["ignores"] or c in counted)
            ]
            held = {c: first_m[c] for c in block["ignores"] if c not in counted and first_from[c] == "em"}
            fits[name] = run_em(block["patterns"], trained, start, block_u, max_iterations, tolerance, held)
    m, m_from, support, taught_by = combine(fits)

    # Share of matching pairs with the value on both records: the blocks' figures, weighed by matches.
    present: dict[str, float] = {}
    for comparison in COMPARISONS:
        teachers = [name for name, fit in fits.items() if comparison in fit["present"] and fit["matches"] > 0]
        matches = sum(fits[name]["matches"] for name in teachers)
        present[comparison] = (
            sum(fits[name]["present"][comparison] * fits[name]["matches"] for name in teachers) / matches
            if matches > 0
            else 0.0
        )

    # The prior, from each block whose key comparisons were learnt elsewhere.
    estimates = []
    for name, block in blocks.items():
        fit = fits[name]
        if not block["fixes"] or any(m_from[c] != "em" for c in block["fixes"]):
            continue
        recall = 1.0
        for comparison in block["fixes"]:
            recall *= present[comparison] * sum(
                m[comparison][level]
                for level in {M_OF.get(lv, lv) for lv in block["key_levels"][comparison]}
                if level != "null"
            )
        block_pairs = block["block_pairs"]  # all of the block's pairs (the patterns may be a sample)
        if recall > 0 and block["population_pairs"] > 0:
            estimates.append(fit["share"] * block_pairs / recall / block["population_pairs"])
    population_pairs = max((b["population_pairs"] for b in blocks.values()), default=1.0)
    total_records = max((b["total_records"] for b in blocks.values()), default=1.0)
    if estimates:
        prior = sum(estimates) / len(estimates)
        prior_from = "em"
    else:
        # No block could be checked against another: one match per record, a neutral guess (warned).
        prior = total_records / max(population_pairs, 1.0)
        prior_from = "default"
    prior = min(max(prior, 1.0 / max(population_pairs, 1.0)), 0.5)

    all_converged = all(fit["converged"] for fit in fits.values())
    summary = (
        "; ".join(
            f"{name}: {fit['iterations']} iterations, {'converged' if fit['converged'] else 'NOT converged'}, "
            f"match share {fit['share']:.4g}"
            + "".join(f", {c} u counted in block" for c in within_block_u.get(name, {}))
            for name, fit in sorted(fits.items())
        )
        or "no training pairs"
    )

    out: dict[str, list[Any]] = defaultdict(list)

    def emit(comparison: str, level: str, m_value: float, u_value: float, weight: float, **extra: Any) -> None:
        out["parameter_key"].append(f"{comparison}.{level}")
        out["comparison"].append(comparison)
        out["level"].append(level)
        out["m_probability"].append(m_value)
        out["u_probability"].append(u_value)
        out["match_weight"].append(weight)
        out["m_from"].append(extra["m_from"])
        out["u_from"].append(extra["u_from"])
        out["expected_matches"].append(extra["expected_matches"])
        out["trained_in"].append(extra["trained_in"])
        out["em_iterations"].append(extra["em_iterations"])
        out["em_converged"].append(extra["em_converged"])

    for comparison in COMPARISONS:
        teachers = taught_by[comparison]
        for level in levels_of[comparison]:
            m_value = m[comparison][M_OF.get(level, level)]
            emit(
                comparison,
                level,
                m_value,
                u[comparison][level],
                math.log2(m_value / u[comparison][level]),
                m_from=m_from[comparison],
                u_from=u_from[(comparison, level)],
                expected_matches=support[comparison],
                trained_in=",".join(teachers) or None,
                em_iterations=max((fits[n]["iterations"] for n in teachers), default=0),
                em_converged=all(fits[n]["converged"] for n in teachers),
            )
        emit(
            comparison,
            "null",
            1.0,
            1.0,
            0.0,
            m_from="fixed",
            u_from="fixed",
            expected_matches=support[comparison],
            trained_in=None,
            em_iterations=0,
            em_converged=True,
        )
    emit(
        "prior",
        "match",
        prior,
        1.0 - prior,
        math.log2(prior / (1.0 - prior)),
        m_from=prior_from,
        u_from=prior_from,
        expected_matches=prior * population_pairs,
        trained_in=summary,
        em_iterations=max((fit["iterations"] for fit in fits.values()), default=0),
        em_converged=all_converged,
    )
    return pa.table(dict(out))
