"""A font with Chinese glyphs for the figures and the check-in card, found on any machine.

matplotlib draws text with the fonts of its font cache (``fontlist-v*.json`` in
``matplotlib.get_cachedir()``), which it builds the first time it runs and never updates.
A CJK font installed after that (``make lab`` and ``make test`` install Debian's
``fonts-noto-cjk`` when run as root) is missing from the stale cache, and Chinese text
would be drawn as empty boxes.  So the first time the package needs Chinese glyphs in a
process, :func:`cjk_font`:

1. looks for a font with Chinese glyphs (:data:`CJK_FAMILIES`) in the cache: found at once
   when the cache is current;
2. else looks for font files on the system that the cache does not list: if there are any,
   the cache is stale, so it adds them and writes the refreshed cache back;
3. else warns (:class:`MissingCJKFontWarning`, shown once per process), saying what to install.

matplotlib's own warning about each glyph no font has is never silenced.  Chinese text is
drawn in that font, Latin text stays in matplotlib's default font (DejaVu Sans): the CJK font
is added to ``font.family`` as a fallback (:func:`use_cjk_font`).
"""
import os
import warnings

from ..i18n import gettext as _

#: Families with Chinese glyphs, most wanted first (Simplified Chinese shapes before Japanese).
CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans SC",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC",
                "Hiragino Sans GB", "Heiti SC", "SimHei", "Noto Sans CJK JP", "Noto Sans CJK TC",
                "Droid Sans Fallback")


class MissingCJKFontWarning(UserWarning):
    """No font with Chinese glyphs is installed: Chinese text is drawn as boxes."""


_found = {}  # id(font manager) -> the family found (or None), once per process


def needs_cjk(text):
    """Whether ``text`` holds characters of East Asian scripts (U+2E80 and above: radicals,
    CJK punctuation, kana, ideographs, Hangul, full-width forms), which DejaVu Sans lacks.

    >>> needs_cjk("Ana · 2 / 3"), needs_cjk("李雷"), needs_cjk("注意力（attention）")
    (False, True, True)
    """
    return any(ord(character) >= 0x2E80 for character in str(text))


def _family_in(manager):
    names = {entry.name for entry in manager.ttflist}
    return next((family for family in CJK_FAMILIES if family in names), None)


def refresh_stale_cache(manager, system_fonts, cache_path):
    """Add to ``manager`` the font files of ``system_fonts`` it does not list, and write it to
    ``cache_path``; returns the files added (none: the cache was current)."""
    from matplotlib import font_manager

    listed = {os.path.realpath(entry.fname) for entry in manager.ttflist}
    added = []
    for path in sorted({os.path.realpath(path) for path in system_fonts} - listed):
        try:
            manager.addfont(path)
        except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read: matplotlib skips it too
            continue
        added.append(path)
    if added:
        font_manager.json_dump(manager, cache_path)
    return added


def find_cjk_font(manager, system_fonts, cache_path):
    """The CJK family of ``manager``, after refreshing it from ``system_fonts`` if it has none;
    None when no font with Chinese glyphs is there at all.  ``system_fonts`` is called only
    when the manager lists no CJK family."""
    family = _family_in(manager)
    if family is None and refresh_stale_cache(manager, system_fonts(), cache_path):
        family = _family_in(manager)
    return family


def cjk_font():
    """The family name of an installed font with Chinese glyphs, or None after a warning.

    Looks in matplotlib's font cache, refreshes a stale cache (see the module's docstring),
    and warns once per process, saying what to install, when there is no such font.
    """
    from pathlib import Path

    import matplotlib
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if id(manager) not in _found:
        cache_path = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
        family = find_cjk_font(manager, font_manager.findSystemFonts, cache_path)
        if family is None:
            warnings.warn(_(
                "No font with Chinese glyphs is installed, so Chinese text in figures and on the "
                "check-in card is drawn as empty boxes. Install one: on Debian or Ubuntu, as root, "
                "`apt-get install fonts-noto-cjk` (or run `make lab` as root, which does it); elsewhere "
                "any of Noto Sans CJK SC, Source Han Sans SC, WenQuanYi Zen Hei, Microsoft YaHei or "
                "PingFang SC. Then restart the Python kernel."), MissingCJKFontWarning, stacklevel=2)
        _found[id(manager)] = family
    return _found[id(manager)]


def use_cjk_font():
    """Give matplotlib a font with Chinese glyphs as fallback for every figure drawn afterwards:
    the family of :func:`cjk_font` is added to ``rcParams["font.family"]`` (Latin text keeps the
    first family).  Returns that family, or None (after the warning) when there is none."""
    import matplotlib

    family = cjk_font()
    families = list(matplotlib.rcParams["font.family"])
    if family is not None and family not in families:
        matplotlib.rcParams["font.family"] = families + [family]
    return family
