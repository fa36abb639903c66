"""The documentation runs: every ```python block of README.md and docs/*.md
is executed (blocks of one page share a namespace, in order).  A python block
followed by "prints" and a plain ``` block must print exactly that block.
The README's test command is the one CI runs."""

import contextlib
import io
import linecache
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A python block, optionally followed by "prints" and the expected output.
BLOCK = re.compile(r"```python\n(.*?)```(?:\n\s*prints\s*\n\s*```\n(.*?)```)?", re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, (block, expected) in enumerate(BLOCK.findall(page.read_text()), 1):
        filename = f"{page.name} (python block {number})"
        # Registered like a file, so error messages can quote the user's line.
        linecache.cache[filename] = (len(block), None, block.splitlines(True), filename)
        code = compile(block, filename, "exec")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(code, namespace)
        if expected:
            assert printed.getvalue() == expected, f"{page.name} block {number} prints otherwise"


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)


def test_readme_has_exactly_two_setup_commands():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands)


def test_ci_runs_the_readme_test_command():
    test_command = _readme_commands()[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()
