"""The message catalogs (docs/i18n.md): every message of the code has a reviewed Chinese
translation, the committed .mo files are the .po files compiled, the tools' language rules.

Nothing here imports MindSpore: the messages are read from the source with Babel, as
`make catalogs` reads them.
"""
import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from mhsa_tools import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mhsa_ms", "mhsa_tools")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
FIX = "run `make catalogs`, then translate in the .po file what it lists as new or fuzzy (docs/i18n.md)"


def catalog_path(package, suffix):
    return ROOT / package / "locale" / "zh_CN" / "LC_MESSAGES" / f"{package}{suffix}"


def code_messages(package):
    """msgid -> first 'file:line' of every _(), N_() ... message in the package's code (as pybabel extracts)."""
    found = {}
    for filename, line, message, _, _ in extract_from_dir(str(ROOT / package), method_map=[("**.py", "python")],
                                                          keywords=DEFAULT_KEYWORDS):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            found.setdefault(msgid, f"{package}/{filename}:{line}")
    return found


def read_catalog(package):
    with open(catalog_path(package, ".po"), "rb") as handle:
        return read_po(handle)


def problems(catalog):
    """What keeps a catalog from being shipped: each message untranslated, fuzzy, or with other placeholders."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            found.append(f"fuzzy (review it, then delete the '#, fuzzy' line): {ids[0]!r}")
        elif not all(strings):
            found.append(f"not translated: {ids[0]!r}")
        elif any(sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(ids[0])) for text in strings):
            found.append(f"placeholders differ from {sorted(PLACEHOLDER.findall(ids[0]))}: {ids[0]!r} -> {strings}")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_message_of_the_code_has_a_reviewed_translation(package):
    in_code = code_messages(package)
    catalog = read_catalog(package)
    in_catalog = {message.id if isinstance(message.id, str) else message.id[0] for message in catalog if message.id}
    assert in_code, f"no message found in {package}: are the _() markers gone?"
    missing = {msgid: where for msgid, where in in_code.items() if msgid not in in_catalog}
    assert missing == {}, f"messages not in {catalog_path(package, '.po').relative_to(ROOT)}: {FIX}"
    assert sorted(in_catalog - set(in_code)) == [], f"messages the code no longer has: {FIX}"
    assert problems(catalog) == [], FIX


def translated_in_fstrings(source):
    """The f-strings of a Python source that call _() (pybabel cannot see a message there)."""
    import io
    import tokenize

    return [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.STRING and re.match(r"[rRbB]?[fF]", token.string)
            and re.search(r"(?<![\w.])(_|N_|gettext)\(", token.string)]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_message_hides_in_an_fstring(package):
    assert translated_in_fstrings('x = f"<b>{_(\'code\')}</b>" + _("seen")\n') == ["f\"<b>{_('code')}</b>\""]
    hidden = {str(path.relative_to(ROOT)): found for path in sorted((ROOT / package).rglob("*.py"))
              if (found := translated_in_fstrings(path.read_text(encoding="utf-8")))}
    assert hidden == {}, "call _() outside the f-string (summary = _(\"code\"); f\"...{summary}...\")"


def test_problems_are_found():
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale="zh_CN")
    catalog.add("head {number}", "头 {number}")
    catalog.add("device", "")
    catalog.add("key", "键", flags=["fuzzy"])
    catalog.add("Day {day}: {title}", "第 {day} 天：{name}")
    assert problems(catalog) == [
        "not translated: 'device'",
        "fuzzy (review it, then delete the '#, fuzzy' line): 'key'",
        "placeholders differ from ['{day}', '{title}']: 'Day {day}: {title}' -> ('第 {day} 天：{name}',)",
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_committed_mo_is_the_po_compiled(package):
    with open(catalog_path(package, ".mo"), "rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    expected = {message.id: message.string for message in read_catalog(package)
                if message.id and message.string and not message.fuzzy}
    assert {msgid: text for msgid, text in compiled.items() if msgid} == expected, \
        f"{catalog_path(package, '.mo').relative_to(ROOT)} is not {package}.po compiled: run `make catalogs`"


def disagreements(first, second):
    """The messages two catalogs both hold but translate differently (a line one package prints and
    the other reads, such as the verdict 'Exercise 1.2: correct', must read the same in both)."""
    theirs = {message.id: message.string for message in second if message.id}
    return {message.id: (message.string, theirs[message.id]) for message in first
            if message.id and message.id in theirs and message.string != theirs[message.id]}


def test_disagreements_are_found():
    from babel.messages.catalog import Catalog

    tools, learner = Catalog(locale="zh_CN"), Catalog(locale="zh_CN")
    tools.add("Exercise {exercise}: correct", "练习 {exercise}：正确")
    learner.add("Exercise {exercise}: correct", "练习 {exercise}: 正确")
    learner.add("key", "键")
    assert disagreements(tools, learner) == {
        "Exercise {exercise}: correct": ("练习 {exercise}：正确", "练习 {exercise}: 正确")}


def test_the_two_catalogs_translate_their_shared_messages_alike():
    assert disagreements(read_catalog("mhsa_tools"), read_catalog("mhsa_ms")) == {}


# ---------------------------------------------------------------- the tools' language


@pytest.mark.parametrize("environ, expected", [
    ({}, "en"),
    ({"MHSA_MS_LANG": "zh"}, "zh"),
    ({"MHSA_MS_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"MHSA_MS_LANG": "fr"}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh"),
])
def test_language_of_the_environment(environ, expected):
    assert i18n.language_from_environment(environ) == expected


def test_the_tools_speak_the_language_of_the_environment(monkeypatch):
    from mhsa_tools import cli

    monkeypatch.setenv("MHSA_MS_LANG", "zh")
    assert cli.build_parser().description == "多头自注意力课程的教学工具"
    assert i18n.translator("zh")("Day {day}: {title}").format(day=1, title="自注意力") == "第 1 天：自注意力"
    monkeypatch.setenv("MHSA_MS_LANG", "en")
    assert cli.build_parser().description == "Multi-head self-attention course tools"


def test_mhsa_ms_slides_reports_in_chinese(monkeypatch, tmp_path, capsys):
    """The progress line of `mhsa-ms slides`, without building a deck (no such notebooks)."""
    from mhsa_tools import cli

    monkeypatch.setenv("MHSA_MS_LANG", "zh")
    assert cli.main(["slides", "--lessons", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == f"{tmp_path}/ 中没有 NN_name.ipynb 形式的课程笔记本"
