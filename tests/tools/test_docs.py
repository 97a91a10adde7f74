"""The documentation says what the code does: the READMEs' tables (English and 简体中文) match
the package and the lessons, and every link, path, module, `mm.` name and `mhsa-ms` command the
pages name exists.

Nothing here imports MindSpore: ``mhsa_ms.__all__`` is read from the source, the Chinese lesson
titles from the package's message catalog.
"""
import ast
import gettext
import json
import re
from pathlib import Path

import pytest

from mhsa_tools import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_ZH = ROOT / "README.zh-CN.md"
PAGES = [README, README_ZH, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md",
         ROOT / "datasets" / "README.md"]
LESSONS = sorted((ROOT / "lessons").glob("*/[0-9][0-9]_*.ipynb"))  # both editions
PACKAGES = ("mhsa_ms", "mhsa_tools")
# Each README: its language, its top line linking the other, its section titles and package groups.
READMES = {
    README: ("en", "English | [简体中文](README.zh-CN.md)", "Lessons", "The package",
             ["device", "attention maths", "data and training", "course"]),
    README_ZH: ("zh", "[English](README.md) | 简体中文", "课程", "课程包", ["设备", "注意力的数学", "数据与训练", "课程"]),
}
MM_NAME = re.compile(r"(?<![\w.])mm\.([A-Za-z_]\w*)")


def public_api():
    """``mhsa_ms.__all__``, read from mhsa_ms/__init__.py."""
    tree = ast.parse((ROOT / "mhsa_ms" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("mhsa_ms/__init__.py assigns no __all__")


def section(text, title):
    """The lines of the Markdown section ``## title`` (up to the next ``## ``)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {title}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start + 1:end]


def table_rows(lines):
    """The cells of each body row of the first Markdown table in ``lines``."""
    rows = [line for line in lines if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def code_sources(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.name)
def test_readme_fits_on_two_screens_and_links_the_other_language(readme):
    lines = readme.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"{readme.name} has {len(lines)} lines: move detail to docs/"
    assert lines[2] == READMES[readme][1], "the line under the title links the README in the other language"


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.name)
def test_readme_package_table_is_the_public_api(readme):
    rows = table_rows(section(readme.read_text(encoding="utf-8"), READMES[readme][3]))
    groups, listed = [], []
    for group, _, names in rows:
        if group:
            groups.append(group)
        listed += re.findall(r"`mm\.(\w+)`", names)
    assert groups == READMES[readme][4]
    assert len(listed) == len(set(listed)), "a name is listed twice"
    api = public_api()
    assert sorted(set(api) - set(listed)) == [], "in mhsa_ms.__all__ but not in the README's package table"
    assert sorted(set(listed) - set(api)) == [], "in the README's package table but not in mhsa_ms.__all__"


def test_every_name_a_lesson_uses_is_public():
    api = set(public_api())
    used = {}
    for notebook in LESSONS:
        for source in code_sources(notebook):
            for name in MM_NAME.findall(source):
                used.setdefault(name, notebook.name)
    assert used, "no lesson uses mm.<name>: is the import alias still mm?"
    # module attributes such as mm.__version__ are not API names
    missing = {name: lesson for name, lesson in used.items() if name not in api and not name.startswith("__")}
    assert missing == {}, "used by a lesson but not in mhsa_ms.__all__"


@pytest.mark.parametrize("readme", READMES, ids=lambda path: path.name)
def test_readme_lesson_table_lists_every_lesson(readme):
    """Titles as the lessons' metadata has them; in Chinese, as the check-in card shows them."""
    language, _, lessons, _, _ = READMES[readme]
    catalog = ROOT / "mhsa_ms" / "locale" / "zh_CN" / "LC_MESSAGES" / "mhsa_ms.mo"
    with open(catalog, "rb") as handle:
        title = gettext.GNUTranslations(handle).gettext if language == "zh" else str
    rows = table_rows(section(readme.read_text(encoding="utf-8"), lessons))
    listed = [(int(day), *re.fullmatch(r"\[(.+)\]\((.+)\)", lesson).groups()) for day, lesson, _, _ in rows]
    expected = []
    for notebook in LESSONS:  # each README links its own edition
        if notebook.parent.name == language:
            meta = json.loads(notebook.read_text(encoding="utf-8"))["metadata"]["mhsa_ms"]
            expected.append((meta["day"], title(meta["title"]), f"lessons/{language}/{notebook.name}"))
    assert listed == expected


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_page_names_only_what_exists(page):
    text = page.read_text(encoding="utf-8")
    api = set(public_api())
    assert sorted(set(MM_NAME.findall(text)) - api) == [], "mm.<name> not in mhsa_ms.__all__"
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            assert (page.parent / target.split("#")[0]).exists(), f"broken link {target}"
    for path in re.findall(r"`((?:mhsa_ms|mhsa_tools|tests|lessons|benchmarks|docs|slides|datasets)/[^`\s<>*]*)`",
                           text):
        assert (ROOT / path).exists(), f"no {path} in the repository"
    for dotted in re.findall(r"(?<![/\w])(?:mhsa_ms|mhsa_tools)(?:\.\w+)+", text):
        if not dotted.endswith((".po", ".mo", ".pot")):  # a message catalog's file name
            assert resolves(dotted), f"{dotted} names no module or top-level name"
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    assert sorted(set(re.findall(r"\bmhsa-ms (\w+)", text)) - commands) == [], "no such mhsa-ms command"


def resolves(dotted):
    """Whether ``a.b.c`` is a module of this repository, or a name defined at the top of one."""
    parts = dotted.split(".")
    for size in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:size])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.is_file():
            rest = parts[size:]
            return not rest or rest[0] in top_level_names(module)
    return False


def top_level_names(module):
    names = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def test_architecture_page_draws_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = re.search(r"```text\n(.*?)```", text, re.S).group(1)
    for package in PACKAGES:
        for module in sorted((ROOT / package).rglob("*.py")):
            relative = module.relative_to(ROOT)
            if module.name == "__init__.py":
                assert f"{module.parent.name}/" in diagram, f"docs/architecture.md does not draw {relative.parent}/"
            else:
                assert re.search(rf"(?<!\w){re.escape(module.stem)}(?!\w)", diagram), \
                    f"docs/architecture.md does not draw {relative}"
