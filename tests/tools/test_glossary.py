"""The glossary (docs/glossary.md) and the first-use rule of the Chinese lessons: 注意力（attention）.

The rule is checked on every Chinese notebook of the course: today the fixture
tests/fixtures/glossary_first_use_zh.ipynb, and every lessons/zh/NN_*.ipynb as soon as the
Chinese edition exists (the list below picks them up; nothing is skipped).
"""
import copy
import json
import re
from pathlib import Path

import nbformat
import pytest

from mhsa_tools.glossary import Term, first_use_problems, read_glossary

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "glossary_first_use_zh.ipynb"
CHINESE_NOTEBOOKS = [FIXTURE, *sorted((ROOT / "lessons" / "zh").glob("[0-9][0-9]_*.ipynb"))]
TERMS = read_glossary()
# The terms the course cannot do without (issue 14), by their English.
REQUIRED = ("attention", "self-attention", "multi-head attention", "head", "query", "key", "value", "projection",
            "softmax", "mask", "padding", "causal", "dropout", "layer normalization", "residual connection",
            "feed-forward network", "positional encoding", "encoder", "decoder", "cross-attention", "patch",
            "class token", "ViT", "data parallelism", "all-reduce", "rank", "worker", "checkpoint", "FLOPs", "jit",
            "graph mode", "PyNative", "token", "tensor", "Cell")


def test_the_glossary_is_one_consistent_table():
    english = [form for term in TERMS for form in term.forms]
    assert len(TERMS) >= 90 and len(english) == len(set(english))
    assert len({term.chinese for term in TERMS}) == len(TERMS), "two terms share their Chinese"
    assert set(REQUIRED) <= set(english), sorted(set(REQUIRED) - set(english))
    for term in TERMS:
        assert term.first_use.startswith(term.chinese) and term.definition, term
        if term.chinese != term.english:
            assert re.fullmatch(rf"{re.escape(term.chinese)}（{re.escape(term.forms[0])}(，.+)?）", term.first_use), term


def test_every_term_is_used_by_the_lessons():
    """A term no lesson uses does not belong in the glossary (nor a lesson's term outside it)."""
    text = " ".join(" ".join("".join(cell["source"]) for cell in json.loads(path.read_text(encoding="utf-8"))["cells"])
                    for path in sorted((ROOT / "lessons").rglob("[0-9][0-9]_*.ipynb"))).lower()
    unused = [term.english for term in TERMS
              if not any(re.search(rf"(?<![a-z]){re.escape(form.lower())}", text) for form in term.forms)]
    assert unused == []


@pytest.mark.parametrize("notebook", CHINESE_NOTEBOOKS, ids=[path.name for path in CHINESE_NOTEBOOKS])
def test_a_chinese_lesson_gives_each_term_its_english_at_first_use(notebook):
    assert first_use_problems(nbformat.read(notebook, as_version=4), TERMS) == []


def fixture_with(cell, old, new):
    nb = nbformat.read(FIXTURE, as_version=4)
    changed = copy.deepcopy(nb)
    assert old in changed.cells[cell].source
    changed.cells[cell].source = changed.cells[cell].source.replace(old, new)
    return changed


@pytest.mark.parametrize("cell, old, new, problem", [
    (0, "自注意力（self-attention）", "自注意力",
     "cell 0: the first 自注意力 is not followed by （self-attention）: 今天从【自注意力】讲起。"),
    (0, "注意力（attention）", "注意力（focus）", "cell 0: the first 注意力 is not followed by （attention）"),
    (3, "多头注意力（multi-head attention）", "多头注意力", "cell 3: the first 多头注意力 is not followed by"),
    (2, "因果掩码（causal mask）让", "因果掩码让", "cell 2: the first 因果掩码 is not followed by （causal mask）"),
])
def test_a_first_use_without_its_english_is_found(cell, old, new, problem):
    problems = first_use_problems(fixture_with(cell, old, new), TERMS)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize("cell, old, new", [
    (0, "注意力（attention）", "注意力 (Attention)"),  # ASCII parentheses, any case
    (2, "填充掩码（padding mask）遮住", "`填充掩码` 和 $填充掩码$ 之外，填充掩码（padding mask）遮住"),  # code, math
    (3, "## 多个头", "## 多头注意力与输出投影"),  # a heading is not running text
    (2, "填充掩码（padding mask）遮住", "填充掩码（padding mask，补齐的位置）遮住"),  # more after the term
])
def test_what_the_rule_allows(cell, old, new):
    assert first_use_problems(fixture_with(cell, old, new), TERMS) == []


def test_longer_terms_hide_the_shorter_ones_inside_them():
    terms = [Term("mask", "掩码", "掩码（mask）", "-"), Term("causal mask", "因果掩码", "因果掩码（causal mask）", "-")]
    nb = {"cells": [{"cell_type": "markdown", "source": "因果掩码（causal mask）是一种掩码（mask）。"}]}
    assert first_use_problems(nb, terms) == []
    nb["cells"][0]["source"] = "`因果掩码` 与 $掩码$ 不算；因果掩码是一种掩码（mask）。"
    assert first_use_problems(nb, terms) == ["cell 0: the first 因果掩码 is not followed by （causal mask）: "
                                             "与 不算；【因果掩码】是一种掩码（mask）。"]
