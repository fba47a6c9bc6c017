"""The layering and safety rules of DESIGN.md, checked on the source so a slip is caught early.

Only ``app.py`` and ``ui/`` import gradio; ``ui/`` never imports torch (tabs call ``tasks``);
checkpoints are read as safetensors, ``torch.load`` only with ``weights_only=True``, and no code
asks transformers to run a repository's own code.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "multimodal_core"
SOURCES = sorted([REPO / "app.py", *PACKAGE.rglob("*.py"), *(REPO / "bench").glob("*.py")])


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_only_the_app_and_the_tabs_import_gradio() -> None:
    allowed = {REPO / "app.py", PACKAGE / "ui", REPO / "bench"}  # benches may drive the app
    offenders = [
        relative(path)
        for path in SOURCES
        if path not in allowed and path.parent not in allowed
        and "gradio" in imported_modules(path)
    ]  # fmt: skip
    assert offenders == []


def test_tabs_never_import_torch_or_model_libraries() -> None:
    offenders = [
        relative(path)
        for path in sorted((PACKAGE / "ui").glob("*.py"))
        if imported_modules(path) & {"torch", "transformers", "diffusers"}
    ]
    assert offenders == []


def calls_named(path: Path, name: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == name:
                found.append(node)
    return found


def keyword_is_true(call: ast.Call, name: str) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def test_torch_load_only_with_weights_only() -> None:
    offenders = [
        f"{relative(path)}:{call.lineno}"
        for path in SOURCES
        for call in calls_named(path, "load")
        if isinstance(call.func, ast.Attribute)
        and getattr(call.func.value, "id", "") == "torch"
        and not keyword_is_true(call, "weights_only")
    ]
    assert offenders == []


def test_no_remote_code_and_no_pickle() -> None:
    offenders = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            remote = isinstance(node, ast.keyword) and node.arg == "trust_remote_code"
            if remote and not (isinstance(node.value, ast.Constant) and node.value.value is False):
                offenders.append(f"{relative(path)}:{node.value.lineno}")
        if "pickle" in imported_modules(path):
            offenders.append(f"{relative(path)}: imports pickle")
    assert offenders == []


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nimport gradio as gr\nstate = torch.load('x.pt')\n")
    assert {"torch", "gradio"} <= imported_modules(bad)
    call = calls_named(bad, "load")[0]
    assert not keyword_is_true(call, "weights_only")


def test_checkpoints_are_safetensors_json_and_text_only() -> None:
    allowed = {".safetensors", ".json", ".md", ".txt", ".png"}
    files = [p for p in (REPO / "checkpoints").rglob("*") if p.is_file()]
    assert all(p.suffix in allowed for p in files), [relative(p) for p in files]
