"""The plugin author's API: one import (`shared.plugin`) holds everything, the bundled plugins use
nothing else of elizabus, and the README's plugin and its test (on shared.testing) run as shown."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import shared.plugin

ROOT = Path(__file__).resolve().parents[2]


def test_every_name_in_shared_plugin_all_is_there() -> None:
    missing = [name for name in shared.plugin.__all__ if not hasattr(shared.plugin, name)]
    assert missing == []
    wanted = {"Plugin", "Action", "Provider", "Evaluator", "Service", "TaskWorker", "Route",
              "Memory", "State", "Content", "Runtime", "EventType", "ModelType", "ChannelType",
              "Character", "Entity", "Room", "World", "Task", "ConfigurationError"}  # fmt: skip
    assert wanted <= set(shared.plugin.__all__)


def test_the_bundled_plugins_import_only_shared_plugin_from_elizabus() -> None:
    outside: list[str] = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elizabus = [m for m in modules if m.split(".")[0] in ("shared", "services")]
            outside += [f"{path.relative_to(ROOT)}: {m}" for m in elizabus if m != "shared.plugin"]
    assert outside == []


def readme_examples() -> list[str]:
    """The Python code blocks of the README's "Writing a plugin" section, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Writing a plugin\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


async def test_the_readme_plugin_and_its_test_run_as_shown() -> None:
    blocks = readme_examples()
    assert len(blocks) == 2, "the README shows a plugin, then its test"
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    await namespace["test_summarize_says_what_the_model_wrote"]()
