"""Data flows one way: a module imports only modules earlier in the layer order."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "moderation"
LAYERS = [
    "errors",
    "contract",  # the contract's names without pandas (schema and dynamics hold them too)
    "schema",
    # Reading platform exports: io (the front door) dispatches to these, so they sit below it.
    "formats",
    "tablefiles",
    "tables",
    "xmlexports",
    "reddit",
    "platforms",
    "tablewriter",
    "io",
    "normalize",
    "obfuscate",  # builds obfuscated test texts; imports nothing from the package
    "thread",
    "features",
    "wordvectors",  # co-occurrence word vectors the model fits with
    "fastscore",  # scikit-learn-free scoring of a fitted model (vectorised NumPy)
    "offtopicarrays",  # the off-topic scorer as plain arrays (no scikit-learn)
    "calibration",  # monotone score maps; the model applies them, training fits them
    "corpus",
    "robustness",  # evasion and dilution probes of a model on held-out data
    "model",
    "offtopic",
    "bundle",
    "dynamics",
    "conditions",
    "rules",
    "single",  # one comment scored and decided without data frames (score_one)
    "review",
    # The review queue database: reviewqueue (the front door) is built from these.
    "queuetables",
    "queuedatabase",
    "queuedecisions",
    "queueitems",
    "queuereader",
    "reviewqueue",
    "moderator",
    "train",
    # The feedback loop: feedback (retraining) reads decisions and compares models with these.
    "feedbacklabels",
    "feedbackcomparison",
    "feedback",
    "evaluate",
    # Batch scoring at scale: streaming, worker processes, resumption, Dask.
    "threadindex",
    "progress",
    "batch",
    "cluster",
    "cli",
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("moderation")
        ):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("moderation."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("module", LAYERS)
def test_imports_only_go_down(module: str) -> None:
    path = PACKAGE / f"{module}.py"
    if not path.exists():
        pytest.skip(f"{module}.py not present")
    rank = LAYERS.index(module)
    later = {m for m in imported_modules(path) if m in LAYERS and LAYERS.index(m) >= rank}
    assert not later - {module}, f"{module} imports later layers: {sorted(later)}"


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert modules <= set(LAYERS), sorted(modules - set(LAYERS))
