"""The house's layout: imports between agents/' packages run one way, with no cycle.

Every module under agents/ is parsed with ``ast``; module-level and function-level imports
both count (only ``if TYPE_CHECKING:`` blocks, which never run, are left out). Lazy imports of
optional libraries (ray, optuna, wandb) are outside agents/ and not part of the graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ROOT / "agents"

# Which of agents/' packages each may import (besides itself and the shared top-level modules).
# Entry scripts -> experiments -> training -> evaluation -> rundir -> analysis, config, models -> envs.
ALLOWED: dict[str, set[str]] = {
    "experiments": {"training", "evaluation", "rundir", "analysis", "config", "models"},
    "training": {"evaluation", "rundir", "analysis", "config", "models"},
    "evaluation": {"rundir", "analysis", "config", "models"},
    "rundir": {"config", "models"},
    "analysis": {"config"},
    "config": {"models"},
    "models": set(),
}
# Documented import paths kept for users (README); nothing inside agents/ may import them.
SHIMS = {"agents.runs", "agents.networks", "agents.wandb_offline"}
SHARED = "shared"  # agents/<module>.py: errors, registry, fileio, runtime, plainlog, cli


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit(module: str) -> str:
    """The package of agents/ a module belongs to, ``shared`` for the top-level modules."""
    parts = module.split(".")
    if len(parts) >= 2 and (AGENTS / parts[1]).is_dir():
        return parts[1]
    return SHARED


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def imports_of(source: str, module: str, modules: set[str]) -> set[str]:
    """The agents modules that ``source`` (the module ``module``) imports, at any depth of code."""
    tree = ast.parse(source)
    skip = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: use absolute imports (agents.package.module)"
            names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            while name and name not in modules:  # agents.x.y.Name -> agents.x.y
                name = name.rpartition(".")[0]
            if name.startswith("agents") and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(AGENTS.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p.read_text(), module_name(p), modules) for p in paths}


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the layout's rules, as readable lines."""
    bad = []
    for module, targets in sorted(graph.items()):
        if module in SHIMS:  # re-exports: they import whatever they stand for
            continue
        for target in sorted(targets):
            src, dst = unit(module), unit(target)
            if target in SHIMS:
                bad.append(f"{module} imports {target}, a re-export kept for users; import the package's module")
            elif module == "agents.analysis.stats":
                bad.append(f"{module} imports {target}; the statistics module imports nothing else of agents/")
            elif src == SHARED and dst != SHARED:
                bad.append(f"{module} (shared) imports {target}; shared modules import no package of agents/")
            elif src != dst and dst != SHARED and dst not in ALLOWED.get(src, set()):
                bad.append(f"{module} imports {target}: {src} may not import {dst}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between modules (each found once from its first module)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, set())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_allowed_directions_form_no_cycle():
    graph = {k: set(v) for k, v in ALLOWED.items()}
    assert not cycles(graph)


def test_imports_run_one_way():
    assert violations(import_graph()) == []


def test_no_import_cycles_between_modules():
    assert cycles(import_graph()) == []


def test_envs_know_nothing_of_agents():
    for path in sorted((ROOT / "envs").rglob("*.py")):
        names = {n.module or "" for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import) for a in n.names}
        assert not any(n == "agents" or n.startswith("agents.") for n in names), path


@pytest.mark.parametrize("source, module, expected", [
    # a function-level import that would hide a cycle is found like a module-level one
    ("def f():\n    from agents.training.loop import train\n", "agents.evaluation.episodes",
     "agents.evaluation.episodes imports agents.training.loop: evaluation may not import training"),
    ("from agents.networks import predict_any_rows\n", "agents.evaluation.episodes",
     "agents.evaluation.episodes imports agents.networks, a re-export kept for users; import the package's module"),
    ("import numpy\nfrom agents.config import flatten_config\n", "agents.analysis.stats",
     "agents.analysis.stats imports agents.config; the statistics module imports nothing else of agents/"),
    ("from agents.experiments.plan import Trial\n", "agents.errors",
     "agents.errors (shared) imports agents.experiments.plan; shared modules import no package of agents/"),
])
def test_a_wrong_import_is_caught(source, module, expected):
    graph = import_graph()
    graph[module] = imports_of(source, module, set(graph))
    assert expected in violations(graph)


def test_a_cycle_is_caught():
    graph = import_graph()
    graph["agents.models.schedules"] = graph["agents.models.schedules"] | {"agents.models.algorithms"}
    assert ["agents.models.algorithms", "agents.models.schedules", "agents.models.algorithms"] in cycles(graph)


def test_documented_import_paths_still_work():
    from agents.models.inference import attention_weights, predict_any_rows
    from agents.networks import attention_weights as documented_weights, predict_any_rows as documented_predict
    from agents.rundir.loading import load_run
    from agents.rundir.wandb_offline import read_run
    from agents.runs import load_run as documented_load_run
    from agents.wandb_offline import read_run as documented_read_run

    assert documented_load_run is load_run and documented_read_run is read_run
    assert documented_predict is predict_any_rows and documented_weights is attention_weights
