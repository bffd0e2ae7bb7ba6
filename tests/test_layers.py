"""Dependencies run one way: campaigns -> providers -> contacts. A lower layer never imports a higher one.

Inside campaigns/ too: the staff screens (admin/) and the JSON API (api/) sit on top; reports/
reads what pipeline/ wrote; content/ says what a message says. None of them imports a face above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
HIGHER = {"providers": {"campaigns"}, "contacts": {"campaigns", "providers"}}
FACES = {"campaigns.admin", "campaigns.api"}
INSIDE_CAMPAIGNS = {
    "campaigns/content": FACES,
    "campaigns/analytics": FACES
    | {f"campaigns.{part}" for part in ("reports", "pipeline", "receiving", "links", "conversations", "events")},
    "campaigns/reports": FACES,
    "campaigns/pipeline": FACES | {"campaigns.reports"},
    "campaigns/receiving": FACES | {"campaigns.reports"},
    "campaigns/links": FACES | {"campaigns.reports", "campaigns.pipeline"},
    "campaigns/variants": FACES | {"campaigns.reports"},
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, including ones inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "import_string",
        ):
            found.extend((node.lineno, arg.value) for arg in node.args if isinstance(arg, ast.Constant))
    return found


@pytest.mark.parametrize("layer", sorted(HIGHER))
def test_a_layer_never_imports_the_layers_above_it(layer):
    offending = [
        f"{path.relative_to(BASE_DIR)}:{line} imports {module}"
        for path in sorted((BASE_DIR / layer).rglob("*.py"))
        for line, module in imported_modules(path)
        if str(module).split(".")[0] in HIGHER[layer]
    ]
    assert offending == []


@pytest.mark.parametrize("package", sorted(INSIDE_CAMPAIGNS))
def test_a_part_of_campaigns_never_imports_the_parts_above_it(package):
    offending = [
        f"{path.relative_to(BASE_DIR)}:{line} imports {module}"
        for path in sorted((BASE_DIR / package).rglob("*.py"))
        for line, module in imported_modules(path)
        if any(str(module) == above or str(module).startswith(above + ".") for above in INSIDE_CAMPAIGNS[package])
    ]
    assert offending == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from campaigns.models import OutboundMessage\n    import_string('campaigns.x')\n")
    assert [m for _, m in imported_modules(module)] == ["campaigns.models", "campaigns.x"]
