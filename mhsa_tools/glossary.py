"""The course's glossary (docs/glossary.md) and the first-use rule of the Chinese edition.

The Chinese lessons follow d2l-zh and the MindSpore 中文文档: the first time a lesson's running
text uses a term, the Chinese term carries its English name in parentheses, 注意力（attention）;
afterwards the Chinese alone.  :func:`first_use_problems` finds where a lesson breaks that rule.

>>> terms = [Term("attention", "注意力", "注意力（attention）", ""),
...          Term("multi-head attention", "多头注意力", "多头注意力（multi-head attention）", "")]
>>> nb = {"cells": [{"cell_type": "markdown", "source": "# 多头注意力\\n多头注意力（multi-head attention）"
...                                                        "由多个注意力组成。"}]}
>>> first_use_problems(nb, terms)
['cell 0: the first 注意力 is not followed by （attention）: i-head attention）由多个【注意力】组成。']
"""
import re
from dataclasses import dataclass
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"
_HEADER = ("term", "中文", "首次出现 (first use)", "释义 (definition)")
# What is not running text: fenced and inline code, formulas, HTML tags, link targets, headings.
_NOT_PROSE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$|`[^`\n]+`|\$\$.+?\$\$|\$[^$\n]+\$|\\\(.+?\\\)|\\\[.+?\\\]"
                        r"|<[^>\n]+>|\]\([^)\s]*\)|^#{1,6} [^\n]*$", re.S | re.M)
_CONTEXT = 20  # characters shown around a problem


@dataclass(frozen=True)
class Term:
    """One row of the glossary: the English term (forms separated by " / "), its Chinese, the
    form of its first use in a Chinese lesson and a short definition."""

    english: str
    chinese: str
    first_use: str
    definition: str

    @property
    def forms(self):
        """The English forms of the term: 'graph mode / graph' -> ('graph mode', 'graph')."""
        return tuple(form.strip() for form in self.english.split(" / "))


def read_glossary(path=GLOSSARY):
    """The terms of every table of the glossary whose header is term | 中文 | 首次出现 | 释义."""
    terms, in_table = [], False
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cells = tuple(cell.strip() for cell in line.strip().strip("|").split("|")) if line.startswith("|") else ()
        if cells == _HEADER:
            in_table = True
        elif not cells:
            in_table = False
        elif in_table and not set(line) <= set("|- "):
            if len(cells) != 4:
                raise ValueError(f"{path}: a glossary row needs 4 cells, got {len(cells)}: {line!r}")
            terms.append(Term(*cells))
    return terms


def running_text(nb):
    """(cell index, text) of each Markdown cell of a notebook (dict or nbformat node), without its
    headings, code, formulas, HTML tags and link targets."""
    texts = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            texts.append((index, _NOT_PROSE.sub(" ", source)))
    return texts


def first_use_problems(nb, terms):
    """Where a Chinese lesson's first use of a glossary term lacks its English in parentheses.

    Checked are the terms whose Chinese differs from the English and has two characters or more.
    An occurrence inside a longer glossary term (注意力 in 多头注意力) is that longer term's, not
    its own.  The English in parentheses may use full-width or ASCII parentheses, any case, and
    go on after the term (前馈网络（feed-forward network，FFN）).

    Returns:
        One line per term whose first use breaks the rule: the cell and the text around it.
    """
    checked = {term.chinese: term for term in terms if term.chinese != term.english and len(term.chinese) >= 2}
    if not checked:
        return []
    pattern = re.compile("|".join(re.escape(chinese) for chinese in sorted(checked, key=len, reverse=True)))
    seen, problems = set(), []
    for index, text in running_text(nb):
        for match in pattern.finditer(text):
            term = checked[match.group(0)]
            if term.chinese in seen:
                continue
            seen.add(term.chinese)
            after = text[match.end():]
            if not any(re.match(rf"\s*[（(]\s*{re.escape(form)}(?![A-Za-z])", after, re.I) for form in term.forms):
                around = (text[max(0, match.start() - _CONTEXT):match.start()] + "【" + match.group(0) + "】"
                          + after[:_CONTEXT])
                problems.append(f"cell {index}: the first {term.chinese} is not followed by （{term.forms[0]}）: "
                                + " ".join(around.split()))
    return problems
