"""The shape the code keeps: routes hold no SQL, services never see where a store lives."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "storefleet"
DOMAINS = [PACKAGE / "commerce", PACKAGE / "control"]
# Orchestration of where stores live (provisioning, moves, routing by hostname) works on
# placements and the tenancy engine by nature; everything else gets a session or a scope.
PLACEMENT_MACHINERY = {PACKAGE / "control" / "placements", PACKAGE / "control" / "hostnames"}
SQL_CALLS = {"select", "insert", "update", "delete", "text", "execute", "scalar", "scalars"}
# A store's engine is reachable only through Tenancy; the control plane's own engine is not
# hidden from control services (key rotation walks the control database in autocommit).
HIDDEN_TYPES = ("Tenancy", "StorePlacement")


def route_modules() -> list[Path]:
    found = [PACKAGE / "commerce" / "storefront.py"]
    for domain in DOMAINS:
        found += [p for p in domain.rglob("*.py") if p.stem.endswith("routes")]
        found += list(domain.glob("*/storefront.py"))
    return sorted(found)


def _called_names(tree: ast.AST) -> set[str]:
    """Names of the functions called, leaving out a router's ``@router.delete(...)``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Attribute):
                if not ast.unparse(fn.value).endswith("router"):
                    names.add(fn.attr)
            else:
                names.add(getattr(fn, "id", ""))
    return names


def test_route_modules_hold_no_sql_and_open_no_tenant_session() -> None:
    modules = route_modules()
    assert len(modules) > 20
    offenders = {}
    for path in modules:
        source = path.read_text()
        calls = _called_names(ast.parse(source)) & SQL_CALLS
        by_hand = "tenancy.session(" in source or "tenancy.read(" in source
        if calls or by_hand:
            offenders[str(path.relative_to(PACKAGE))] = sorted(calls) + (["session"] * by_hand)
    assert offenders == {}


def test_no_domain_service_takes_a_placement_tenancy_or_engine() -> None:
    offenders = []
    for domain in DOMAINS:
        for path in domain.rglob("*.py"):
            if any(path.is_relative_to(p) for p in PLACEMENT_MACHINERY):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for arg in node.args.args + node.args.kwonlyargs:
                    annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                    if any(t in annotation for t in HIDDEN_TYPES):
                        offenders.append(f"{path.relative_to(PACKAGE)}:{node.name}({arg.arg})")
    assert offenders == []


def test_no_module_under_the_package_passes_450_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert long == {}


def test_no_import_cycle_anywhere_in_the_package() -> None:
    """Not between layers (lint-imports) and not inside one either, type-only imports too."""
    import grimp

    graph = grimp.build_graph("storefleet", exclude_type_checking_imports=False)
    cycles = [
        (module, other)
        for module in graph.modules
        for other in graph.find_modules_directly_imported_by(module)
        if module != other and graph.chain_exists(importer=other, imported=module)
    ]
    assert cycles == []
