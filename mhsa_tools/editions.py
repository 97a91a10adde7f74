"""The two editions of a lesson kept in step: ``lessons/en/NN_x.ipynb`` and ``lessons/zh/NN_x.ipynb``.

A translator changes prose, never the lesson.  :func:`parity_problems` compares an English
notebook with its Chinese edition and names every difference that is not a translation:

1. the notebook metadata is the same but for ``mhsa_ms.language`` ('en' / 'zh');
2. the same cells in the same order, of the same types, with the same cell metadata (exercise
   ids, roles, points, slides);
3. code cells hold the same code: the Python syntax trees are equal once comments are dropped
   and string literals set aside; a literal may differ only where the Chinese one is a
   translation (it holds Chinese characters) or is the edition's language code
   (``mm.set_language("zh")``); an f-string keeps its replacement fields, in order; the
   markers the tools read (``# NBVAL_...``, ``### BEGIN/END SOLUTION``) stay where they were;
4. Markdown cells are translated (a cell with English words holds Chinese in the zh edition)
   and keep their formulas (the same ``$...$`` and ``$$...$$``; a sentence may put them in
   another order);
5. the numbers a cell prints are the same (cells whose output nbval ignores excepted): what
   the lesson computes does not depend on the language it is told in.

>>> english = {"metadata": {"mhsa_ms": {"day": 1, "language": "en"}}, "cells": [
...     {"cell_type": "code", "metadata": {}, "outputs": [], "source": 'print("three heads:", 3)  # h'}]}
>>> import copy; chinese = copy.deepcopy(english); chinese["metadata"]["mhsa_ms"]["language"] = "zh"
>>> chinese["cells"][0]["source"] = 'print("三个头：", 3)  # 头数'
>>> parity_problems(english, chinese)
[]
>>> chinese["cells"][0]["source"] = 'print("三个头：", 4)'
>>> parity_problems(english, chinese)
['cell 0: the code differs (only comments and translated strings may): line 1']

Run ``python -m mhsa_tools.editions lessons/en/01_x.ipynb lessons/zh/01_x.ipynb`` (or a folder
holding en/ and zh/) to see the problems of one pair or of every pair.
"""
import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path

from .notebooks import cell_source

EDITIONS = ("en", "zh")
_CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")  # characters and full-width punctuation
_ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
_MARKERS = re.compile(r"^\s*(# NBVAL_\w+|### (?:BEGIN|END) SOLUTION)\s*$", re.M)
_FORMULA = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_CODE_SPANS = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$|`[^`\n]+`", re.S | re.M)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def parity_problems(english, chinese):
    """Every difference between the English and the Chinese edition of a lesson that a translation
    does not explain (dicts or nbformat nodes).  Returns one line per problem; [] when in step."""
    problems = _metadata_problems(english.get("metadata", {}), chinese.get("metadata", {}))
    en_cells, zh_cells = english.get("cells", []), chinese.get("cells", [])
    if len(en_cells) != len(zh_cells):
        problems.append(f"{len(en_cells)} cells in the English edition, {len(zh_cells)} in the Chinese one")
    for index, (en, zh) in enumerate(zip(en_cells, zh_cells)):
        if en.get("cell_type") != zh.get("cell_type"):
            problems.append(f"cell {index}: a {en.get('cell_type')} cell in English, {zh.get('cell_type')} in Chinese")
            continue
        if en.get("metadata", {}) != zh.get("metadata", {}):
            problems.append(f"cell {index}: the cell metadata differs: {en.get('metadata')} / {zh.get('metadata')}")
        check = _code_problems if en.get("cell_type") == "code" else _markdown_problems
        problems += [f"cell {index}: {problem}" for problem in check(en, zh)]
    return problems


def _metadata_problems(en, zh):
    problems = []
    for edition, metadata in zip(EDITIONS, (en, zh)):
        found = metadata.get("mhsa_ms", {}).get("language")
        if found != edition:
            problems.append(f"the {edition} edition's metadata mhsa_ms.language is {found!r}, not {edition!r}")
    if _without_language(en) != _without_language(zh):
        problems.append(f"the notebook metadata differs: {_without_language(en)} / {_without_language(zh)}")
    return problems


def _without_language(metadata):
    metadata = json.loads(json.dumps(metadata))  # a plain deep copy of dicts or nbformat nodes
    metadata.get("mhsa_ms", {}).pop("language", None)
    return metadata


def _code_problems(en, zh):
    en_source, zh_source = cell_source(en), cell_source(zh)
    problems = []
    if _markers(en_source) != _markers(zh_source):
        problems.append(f"the markers differ (or their place): {_markers(en_source)} / {_markers(zh_source)}")
    en_magic, en_body = _cell_magic(en_source)
    zh_magic, zh_body = _cell_magic(zh_source)
    if en_magic != zh_magic:
        problems.append(f"the cell magic differs: {en_magic!r} / {zh_magic!r}")
    en_code, zh_code = _skeleton(en_body), _skeleton(zh_body)
    if en_code is None or zh_code is None:  # not Python: only comments may differ
        if _without_comments(en_source) != _without_comments(zh_source):
            problems.append("the code differs (it is not Python, so only comments may)")
    elif [dump for _, dump in en_code[0]] != [dump for _, dump in zh_code[0]]:
        problems.append(f"the code differs (only comments and translated strings may): line {_first_difference(en_code[0], zh_code[0])}")
    else:
        for edition, source in zip(EDITIONS, (en_body, zh_body)):
            wrong = [code for code in _languages_set(source) if code != edition]
            if wrong:
                problems.append(f"the {edition} edition calls set_language({wrong[0]!r}), not {edition!r}")
        for (line, en_text), (_, zh_text) in zip(en_code[1], zh_code[1]):
            if en_text != zh_text and not _CHINESE.search(zh_text) and (en_text, zh_text) != EDITIONS:
                problems.append(f"line {line}: the string {en_text!r} became {zh_text!r}, which is not Chinese")
    if not _ignores_output(en_source) and _numbers(en) != _numbers(zh):
        problems.append(f"the numbers printed differ: {_numbers(en)} / {_numbers(zh)}")
    return problems


def _markers(source):
    """The markers the tools read (``# NBVAL_...``, ``### BEGIN/END SOLUTION``), each with the
    number of statements before it: a solution region cannot move around the code."""
    try:
        starts = sorted(node.lineno for node in ast.walk(ast.parse(_cell_magic(source)[1])) if isinstance(node, ast.stmt))
    except SyntaxError:
        starts = []
    offset = 1 if source.startswith("%%") else 0  # the magic's line is not part of the body
    return [(match.group(1), sum(start + offset < source.count("\n", 0, match.start()) + 1 for start in starts))
            for match in _MARKERS.finditer(source)]


def _cell_magic(source):
    """(the ``%%magic`` line, the code under it) of a cell; ('', source) for plain code."""
    if source.startswith("%%"):
        magic, _, body = source.partition("\n")
        return magic.strip(), body
    return "", source


def _skeleton(source):
    """(the syntax tree with every string set aside, [(line, string)...]) of a cell, or None when
    it is not Python.  IPython's magics and shell escapes are turned into Python first."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None
    strings = []

    class SetStringsAside(ast.NodeTransformer):
        def visit_JoinedStr(self, node):  # f"...{x:.3f}...": the fields stay, the text is set aside
            text = "".join(part.value for part in node.values if isinstance(part, ast.Constant))
            strings.append((node.lineno, text))
            fields = [self.visit(part) for part in node.values if isinstance(part, ast.FormattedValue)]
            return ast.JoinedStr(values=fields)

        def visit_FormattedValue(self, node):
            node.value = self.visit(node.value)  # the format spec (a JoinedStr of its own) is code
            return node

        def visit_Constant(self, node):
            if isinstance(node.value, str):
                strings.append((node.lineno, node.value))
                return ast.Constant(value="")
            return node

    tree = SetStringsAside().visit(tree)
    return [(statement.lineno, ast.dump(statement)) for statement in tree.body], strings


def _languages_set(source):
    """The string arguments of the ``set_language(...)`` calls of a cell."""
    from IPython.core.inputtransformer2 import TransformerManager

    return [node.args[0].value for node in ast.walk(ast.parse(TransformerManager().transform_cell(source)))
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "set_language"
            and node.args and isinstance(node.args[0], ast.Constant)]


def _first_difference(en, zh):
    """The line of the first statement that differs, in the edition that has it."""
    for (line, en_dump), (_, zh_dump) in zip(en, zh):
        if en_dump != zh_dump:
            return line
    return max(en, zh, key=len)[min(len(en), len(zh))][0]


def _without_comments(source):
    return [line.split("#")[0].rstrip() for line in source.splitlines() if line.split("#")[0].strip()]


def _ignores_output(source):
    return "NBVAL_IGNORE_OUTPUT" in source or "NBVAL_SKIP" in source


def _numbers(cell):
    """The numbers of a code cell's text outputs, in order (images and HTML left out)."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output.get("text", ""))
        elif "data" in output:
            texts.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            texts.append(output.get("evalue", ""))
    text = "".join("".join(part) if isinstance(part, list) else part for part in texts)
    return _NUMBER.findall(text)


def _markdown_problems(en, zh):
    en_source, zh_source = cell_source(en), cell_source(zh)
    problems = []
    en_formulas, zh_formulas = Counter(_FORMULA.findall(en_source)), Counter(_FORMULA.findall(zh_source))
    if en_formulas != zh_formulas:  # a translation may reorder a sentence, not change its formulas
        problems.append(f"the formulas differ: English only {sorted(en_formulas - zh_formulas)}, "
                        f"Chinese only {sorted(zh_formulas - en_formulas)}")
    english_prose = _ENGLISH_WORD.search(_CODE_SPANS.sub(" ", _FORMULA.sub(" ", en_source)))
    if english_prose and not _CHINESE.search(zh_source):
        problems.append("the Markdown is not translated (no Chinese in it)")
    return problems


def edition_pairs(folder):
    """[(English path, Chinese path)] of every lesson of ``folder``/en and ``folder``/zh, by file
    name; a lesson in one edition only is paired with None."""
    folder = Path(folder)
    names = sorted({path.name for edition in EDITIONS for path in (folder / edition).glob("[0-9][0-9]_*.ipynb")})
    return [tuple(folder / edition / name if (folder / edition / name).is_file() else None for edition in EDITIONS)
            for name in names]


def main(argv=None):
    """``python -m mhsa_tools.editions EN.ipynb ZH.ipynb`` or ``... LESSONS_FOLDER``: print the
    problems, exit 1 when there are any."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2:
        pairs = [tuple(Path(path) for path in argv)]
    elif len(argv) == 1:
        pairs = edition_pairs(argv[0])
    else:
        print("usage: python -m mhsa_tools.editions EN.ipynb ZH.ipynb | LESSONS_FOLDER", file=sys.stderr)
        return 2
    failed = 0
    for pair in pairs:
        if None in pair:
            print(f"{next(path for path in pair if path)}: no {EDITIONS[pair.index(None)]} edition")
            failed += 1
            continue
        en, zh = (json.loads(path.read_text(encoding="utf-8")) for path in pair)
        problems = parity_problems(en, zh)
        failed += bool(problems)
        print(f"{pair[1]}: " + ("in step with " + str(pair[0]) if not problems else f"{len(problems)} problems"))
        for problem in problems:
            print(f"  {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
