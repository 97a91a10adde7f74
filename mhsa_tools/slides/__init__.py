"""``mhsa-ms slides``: one self-contained, offline reveal.js deck per lesson notebook.

:mod:`.deck` assembles a deck from the slideshow cells of a lesson, :mod:`.markdown`
renders their Markdown, formulas and outputs, :mod:`.assets` inlines reveal.js, KaTeX and the
Noto Sans SC glyphs of the deck's Chinese text.
"""
from .assets import ensure_assets, project_root
from .deck import build_deck, count_slides, lesson_notebooks, slide_cells, source_digest
from .markdown import split_math

__all__ = ["build_deck", "count_slides", "ensure_assets", "lesson_notebooks", "project_root", "slide_cells",
           "source_digest", "split_math"]
