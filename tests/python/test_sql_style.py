"""The house SQL style (docs/decisions.md, "One SQL style"), checked on the model files' text, no dbt run.

Import CTEs first (every ref()/source() in the CTEs at the top, none in a later step), the model ends with
`select * from final`, no `{{ config() }}` in the SQL (config lives in the YAML) and no header comment (model
docs live in the YAML). Every model under models/ is checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODELS = PROJECT_ROOT / "models"
READS = re.compile(r"\bref\(|\bsource\(|source_if_loaded\(")
JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)
CTE_START = re.compile(r"^(\w+) as (?:not materialized )?\($", re.MULTILINE)


def styled_models() -> list[Path]:
    return sorted(MODELS.rglob("*.sql"))


def style_problems(text: str) -> list[str]:
    """What breaks the style in one model's SQL (empty when nothing does)."""
    problems = []
    if not text.rstrip().endswith("select * from final"):
        problems.append("does not end with `select * from final`")
    if "config(" in text:
        problems.append("sets config in the SQL (put it in the model's YAML)")
    if text.lstrip().startswith("{#"):
        problems.append("starts with a header comment (model docs live in the YAML)")
    starts = [match.start() for match in CTE_START.finditer(text)]
    bodies = [text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=False)]
    # an import CTE reads one ref/source, filtered or pruned at most: no join
    is_import = [bool(READS.search(body)) and not JOIN.search(body) for body in bodies]
    first_step = next((index for index, imported in enumerate(is_import) if not imported), len(bodies))
    late = [CTE_START.match(body).group(1) for body in bodies[first_step:] if READS.search(body)]  # type: ignore[union-attr]
    if late:
        problems.append(f"reads a ref/source after the import CTEs, in {', '.join(late)}")
    return problems


@pytest.mark.parametrize("model", styled_models(), ids=lambda path: path.stem)
def test_model_follows_the_house_style(model: Path) -> None:
    assert style_problems(model.read_text()) == []


def test_the_check_catches_each_break() -> None:
    good = (
        "with\n\norders as (\n    select * from {{ ref('o') }}\n),\n\n"
        "final as (\n    select * from orders\n)\n\nselect * from final\n"
    )
    assert style_problems(good) == []
    assert style_problems(good.replace("select * from final\n", "select * from orders\n"))
    assert style_problems("{{ config(materialized='table') }}\n" + good)
    assert style_problems("{# what the model is #}\n" + good)
    inline = good.replace("select * from orders\n", "select * from orders\n    inner join {{ ref('c') }} on true\n")
    assert style_problems(inline) == ["reads a ref/source after the import CTEs, in final"]
