"""Build one self-contained, offline reveal.js deck per lesson notebook.

The deck is made from the cells that carry the standard Jupyter slideshow
metadata ``cell.metadata.slideshow.slide_type``:

* ``"slide"`` starts a new slide, ``"subslide"`` a slide below the current one,
* ``"fragment"`` starts a part revealed on the next key press,
* ``"-"`` continues the slide (or fragment) above,
* ``"skip"``, ``"notes"`` and cells without slideshow metadata are left out.

Markdown is rendered with mistune, formulas are rendered to HTML with KaTeX at
build time (Node.js runs it), code is highlighted with Pygments and the stored
outputs of the notebook (printed text, figures as ``data:`` URIs) are included
as they are; a slide too big for the 1280 x 720 deck is shrunk to fit.
reveal.js, KaTeX's style sheet, the KaTeX fonts the formulas use and the
Noto Sans SC files that hold the deck's Chinese characters are inlined, so a
deck makes no network request when it is viewed.  The JavaScript, CSS and
fonts come from the npm packages pinned in ``package-lock.json`` (``npm ci``
installs them into ``node_modules/`` on the first build).

A deck speaks the language of its notebook's edition (metadata
``mhsa_ms.language``, English when absent): ``<html lang="zh-CN">`` and the
title "第 1 天：..." for the Chinese edition.  Any folder of notebooks makes a
folder of decks: ``mhsa-ms slides --lessons lessons/zh --out slides/zh``.

Run it with ``make slides`` or ``mhsa-ms slides [NOTEBOOK ...]``.
"""
import hashlib
import html
import json
import re
from pathlib import Path

from ..i18n import HTML_LANG, lesson_title, notebook_language, translator
from .assets import CJK_FONT_FAMILY, asset_versions, cjk_font_faces, ensure_assets, katex_css, reveal_assets
from .markdown import Renderer, cell_text, plain_text, render_tex, safe

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
_STARTS = ("slide", "subslide")
_LEFT_OUT = ("skip", "notes")

# The inlined Noto Sans SC comes first everywhere: its faces claim only the deck's East Asian
# characters (cjk_font_faces), so Latin text keeps the fonts after it.
_DECK_CSS = """
:root {
  --r-main-font: "{cjk}", system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC",
    "PingFang SC", "Microsoft YaHei", Helvetica, Arial, sans-serif;
  --r-heading-font: var(--r-main-font);
  --r-heading-text-transform: none;
  --r-main-font-size: 30px;
  --r-code-font: "{cjk}", ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
.reveal .katex { font-family: KaTeX_Main, "{cjk}", "Times New Roman", serif; }
.reveal .slides { text-align: left; }
.reveal h1 { font-size: 1.8em; }
.reveal h2 { font-size: 1.35em; }
.reveal h3 { font-size: 1.1em; }
.reveal ul, .reveal ol { display: block; margin-left: 1.2em; }
.reveal p, .reveal li { line-height: 1.35; }
.reveal .katex-display { margin: 0.4em 0; }
.reveal pre { width: 100%; margin: 10px 0; box-shadow: none; font-size: 0.5em; }
.reveal pre code { max-height: 260px; padding: 6px 10px; }
.reveal pre.cell-input code { background: #f6f8fa; border-left: 4px solid #2a76dd; }
.reveal pre.cell-output code { background: #fff; border-left: 4px solid #bbb; }
.reveal pre.cell-error code { background: #fff0f0; border-left: 4px solid #d33; }
.reveal .cell-output-image { text-align: center; }
.reveal .cell-output-image img { min-height: 300px; max-height: 480px; max-width: 100%; margin: 6px auto;
  object-fit: contain; }
.reveal details summary { font-size: 0.5em; color: #666; cursor: pointer; }
.reveal table { font-size: 0.7em; }
""".replace("{cjk}", CJK_FONT_FAMILY)

# A slide whose content is taller or wider than the deck is shrunk to fit (CSS zoom on its .fit box).
_FIT_SCRIPT = """function fitSlide(slide) {
  const box = slide && slide.querySelector(":scope > .fit");
  if (!box || box.getClientRects().length === 0) return;  // not laid out (a hidden slide)
  box.style.zoom = "";
  const zoom = Math.min(1, Reveal.getConfig().height / box.scrollHeight, box.clientWidth / box.scrollWidth);
  if (zoom < 1) box.style.zoom = (Math.floor(zoom * 1000) / 1000).toString();
}
const fitAll = () => Reveal.getSlides().forEach(fitSlide);  // the shown ones: all of them in scroll view
Reveal.on("ready", fitAll);
Reveal.on("resize", fitAll);
Reveal.on("slidechanged", (event) => fitSlide(event.currentSlide));
window.addEventListener("load", fitAll);
document.fonts.ready.then(fitAll);
"""

_REVEAL_CONFIG = {
    "hash": True,
    "slideNumber": "c/t",
    "width": 1280,
    "height": 720,
    "margin": 0.04,
    "center": False,
    "transition": "slide",
}


def _slide_type(index, cell):
    """The slide type of cell ``index``; ``None`` when it has no slideshow metadata."""
    slideshow = cell.get("metadata", {}).get("slideshow")
    if not slideshow:
        return None
    kind = slideshow.get("slide_type")
    if kind not in SLIDE_TYPES:
        raise ValueError(f"cell {index}: slide_type must be one of {SLIDE_TYPES}, got {kind!r}")
    return kind


def slide_cells(nb):
    """The cells shown in the deck, as ``(index, cell, slide_type)`` triples.

    Raises ValueError when no cell starts a slide or the first shown cell does
    not start one.

    >>> nb = {"cells": [
    ...     {"cell_type": "markdown", "metadata": {"slideshow": {"slide_type": "slide"}}, "source": "# A"},
    ...     {"cell_type": "markdown", "metadata": {}, "source": "left out"},
    ...     {"cell_type": "markdown", "metadata": {"slideshow": {"slide_type": "skip"}}, "source": "left out"},
    ...     {"cell_type": "markdown", "metadata": {"slideshow": {"slide_type": "-"}}, "source": "B"}]}
    >>> [(i, kind) for i, _, kind in slide_cells(nb)]
    [(0, 'slide'), (3, '-')]
    """
    shown = []
    for index, cell in enumerate(nb["cells"]):
        kind = _slide_type(index, cell)
        if kind is None or kind in _LEFT_OUT:
            continue
        if not shown and kind not in _STARTS:
            raise ValueError(
                f"cell {index}: the first cell shown in the slides must have slide_type 'slide', got {kind!r}"
            )
        shown.append((index, cell, kind))
    if not shown:
        raise ValueError("no cell has slideshow slide_type 'slide': nothing to put in the deck")
    return shown


def count_slides(nb):
    """Number of slides the notebook marks: its 'slide' and 'subslide' cells.

    >>> count_slides({"cells": [{"cell_type": "markdown", "source": "# A",
    ...                          "metadata": {"slideshow": {"slide_type": "slide"}}}]})
    1
    """
    return sum(kind in _STARTS for _, _, kind in slide_cells(nb))


def source_digest(nb):
    """SHA-256 over the slide types, sources and kinds of outputs of the shown cells.

    A deck stores it; a deck whose digest differs from its notebook's is stale.
    Output kinds (say a stream and a PNG figure), not their contents, count, so
    re-running a lesson whose timings change leaves its deck current.
    """
    parts = [
        [kind, cell["cell_type"], cell_text(cell["source"]),
         [[out.get("output_type"), out.get("name"), sorted(out.get("data", {}))] for out in cell.get("outputs", [])]]
        for _, cell, kind in slide_cells(nb)
    ]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def build_deck(notebook_path, deck_path, modules=None):
    """Write the deck of one notebook to ``deck_path`` and return its path.

    ``modules`` is the node_modules folder (``ensure_assets()`` by default).
    The notebook's metadata ``mhsa_ms.title`` (and ``mhsa_ms.day``) name the
    deck, and its first slide must show that title (translated for the Chinese edition as
    the check-in card translates it); ``mhsa_ms.language`` (the
    edition, 'en' when absent) sets the deck's language.
    """
    import nbformat

    notebook_path, deck_path = Path(notebook_path), Path(deck_path)
    nb = nbformat.read(notebook_path, as_version=4)
    meta = nb.metadata.get("mhsa_ms", {})
    if not meta.get("title"):
        raise ValueError(f"{notebook_path}: notebook metadata mhsa_ms.title is missing")
    language = notebook_language(nb)
    if language is None:
        raise ValueError(f"{notebook_path}: notebook metadata mhsa_ms.language must be 'zh' or 'en', "
                         f"got {meta.get('language')!r}")
    title = lesson_title(meta["title"], language)  # the metadata's English title, in the deck's language
    _ = translator(language)
    heading = _("Day {day}: {title}").format(day=meta["day"], title=title) if "day" in meta else title
    modules = Path(modules) if modules is not None else ensure_assets()

    renderer = Renderer(notebook_path, language)
    slides = []  # per horizontal slide: its (sub)slides; per (sub)slide: [is_fragment, html] blocks
    for index, cell, kind in slide_cells(nb):
        if kind == "slide":
            slides.append([])
        if kind in _STARTS:
            slides[-1].append([[False, ""]])
        elif kind == "fragment":
            slides[-1][-1].append([True, ""])
        if cell["cell_type"] == "markdown":
            body = renderer.markdown_cell(cell)
        elif cell["cell_type"] == "code":
            if cell.get("execution_count") is None:
                raise ValueError(f"{notebook_path}: cell {index} is on a slide but was never executed; "
                                 "execute the notebook first (make outputs)")
            body = renderer.code_cell(cell)
        else:
            body = ""
        slides[-1][-1][-1][1] += f"<!-- cell {index} -->\n{body}"

    def section(blocks):
        parts = [f'<div class="fragment">\n{markup}</div>\n' if is_fragment else markup
                 for is_fragment, markup in blocks]
        return '<section>\n<div class="fit">\n' + "".join(parts) + "</div>\n</section>"

    first_text = re.sub(r"MHSAMSMATH\d+X", " ", section(slides[0][0]))
    if title.casefold() not in plain_text(first_text).casefold():
        raise ValueError(
            f"{notebook_path}: the first slide must show the lesson title {title!r} (metadata mhsa_ms.title)"
        )
    sections = []
    for group in slides:
        inner = [section(blocks) for blocks in group]
        sections.append(inner[0] if len(inner) == 1 else "<section>\n" + "\n".join(inner) + "\n</section>")
    rendered = render_tex([list(f) for f in renderer.formulas], modules)
    body = re.sub(r"MHSAMSMATH(\d+)X", lambda m: rendered[int(m.group(1))], "\n".join(sections))

    from pygments.formatters import HtmlFormatter

    reveal_js, reveal_css = reveal_assets(modules)
    versions = asset_versions(modules)
    css = "\n".join([
        reveal_css, katex_css(modules, rendered), cjk_font_faces(modules, heading + plain_text(body)),
        HtmlFormatter().get_style_defs(".highlight"), _DECK_CSS,
    ])
    fonts = f"{CJK_FONT_FAMILY} {versions['@fontsource/noto-sans-sc']}"
    deck = f"""<!DOCTYPE html>
<html lang="{HTML_LANG[language]}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mhsa-ms slides (reveal.js {versions['reveal.js']}, KaTeX {versions['katex']}, {fonts})">
<meta name="mhsa-ms-source" content="{html.escape(notebook_path.name)}">
<meta name="mhsa-ms-source-sha256" content="{source_digest(nb)}">
<title>{html.escape(heading)}</title>
<style>
{safe(css, "style")}
</style>
</head>
<body>
<div class="reveal"><div class="slides">
{body}
</div></div>
<script>
{safe(reveal_js, "script")}
</script>
<script>
Reveal.initialize({json.dumps(_REVEAL_CONFIG, sort_keys=True)});
{_FIT_SCRIPT}</script>
</body>
</html>
"""
    deck_path.parent.mkdir(parents=True, exist_ok=True)
    deck_path.write_text(deck, encoding="utf-8")
    return deck_path


def lesson_notebooks(lessons_dir="lessons"):
    """The lesson notebooks ``NN_name.ipynb`` of a folder, in day order."""
    return sorted(Path(lessons_dir).glob("[0-9][0-9]_*.ipynb"))
