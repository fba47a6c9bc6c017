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


CORE = "core"
"""The modules directly in multimodal_core/ (hub, media, audio, viz, decoding, registry...)."""

ALLOWED: dict[str, set[str]] = {
    "app": {"ui", CORE},
    "ui": {"ui", "tasks", CORE},
    "cli": {"cli", "tasks", CORE},
    "tasks": {"tasks", "models", "backends", CORE},
    "backends": {"backends", CORE},
    "models": {"models", CORE},
    "world": {"world", CORE},
    "train": {"train", "models", "backends", "world", "evaluate.metrics", CORE},
    "evaluate": {"evaluate", "evaluate.metrics", "models", "backends", "world", CORE},
    "bench": {"app", "ui", "cli", "tasks", "backends", "models", "world", "train", "evaluate",
              "evaluate.metrics", CORE},
    CORE: {CORE},
}  # fmt: skip
"""Which parts of the project each part may import: dependencies point one way, app -> ui ->
tasks -> (models | backends) -> core. Training and evaluation build on the world, the models and
the frozen pretrained encoders some models read; the metrics both need live in
evaluate/metrics.py. Benches may measure anything."""


def part_of(path: Path) -> str:
    """The layer a source file belongs to (a key of :data:`ALLOWED`)."""
    if path == REPO / "app.py":
        return "app"
    if path.parent == REPO / "bench":
        return "bench"
    if path == PACKAGE / "__main__.py":
        return "cli"  # ``python -m multimodal_core`` is the command line
    inside = path.relative_to(PACKAGE).parts
    return inside[0] if len(inside) > 1 else CORE


def project_imports(path: Path) -> set[str]:
    """The project's layers a file imports (``evaluate.metrics`` named apart), lazy imports too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            modules += names if node.module == "multimodal_core" else [node.module]
    layers = set()
    for module in modules:
        parts = module.split(".")
        if parts[0] == "app":
            layers.add("app")
        elif parts[0] == "multimodal_core" and len(parts) > 1:
            sub = REPO / "multimodal_core" / parts[1]
            if parts[1:3] == ["evaluate", "metrics"]:
                layers.add("evaluate.metrics")
            else:
                layers.add(parts[1] if sub.is_dir() else CORE)
    return layers


def test_each_part_imports_only_the_parts_below_it() -> None:
    offenders = [
        f"{relative(path)} imports {sorted(project_imports(path) - ALLOWED[part_of(path)])}"
        for path in SOURCES
        if project_imports(path) - ALLOWED[part_of(path)]
    ]
    assert offenders == []


ABLATIONS: dict[str, str] = {
    "show_and_tell.py": "multimodal_core.models.show_attend_tell",
}
"""A model file that is the ablation of another imports that one's parts (issue 26: Show and
Tell takes Show, Attend and Tell's encoder and vocabulary, so the two differ by attention
alone). No other model file imports another."""


def test_a_model_file_imports_no_other_model_file() -> None:
    offenders = [
        relative(path)
        for path in sorted((PACKAGE / "models").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("multimodal_core.models.")
        and node.module not in ("multimodal_core.models.checkpoint", ABLATIONS.get(path.name))
    ]
    assert offenders == []


def test_the_layering_rule_sees_a_violation(tmp_path: Path) -> None:
    bad = PACKAGE / "tasks" / "_layering_probe.py"
    assert part_of(bad) == "tasks" and part_of(PACKAGE / "hub.py") == CORE
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from multimodal_core.train.vqa import x\n"
        "from multimodal_core import hub, evaluate\n"
        "import multimodal_core.evaluate.metrics\n"
    )
    assert project_imports(probe) == {"train", CORE, "evaluate", "evaluate.metrics"}
    assert project_imports(probe) - ALLOWED["tasks"] == {"train", "evaluate", "evaluate.metrics"}


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
