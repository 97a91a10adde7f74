"""The learner's language: the package's messages, card and figure labels in 简体中文 or English.

The language in effect is the first of:

1. ``MHSA_MS_LANG``, set by :func:`set_language` (each lesson of the Chinese edition calls
   ``mm.set_language("zh")`` in its first cell) or in the environment;
2. the locale: the first of the variables ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``
   that is set (the order GNU gettext reads them), else Python's ``locale.getlocale()``;
   any ``zh`` locale (``zh_CN.UTF-8``, ...) means Chinese;
3. English.

The messages live in GNU gettext catalogs, ``mhsa_ms/locale/zh_CN/LC_MESSAGES/mhsa_ms.po``
(translated by hand) compiled to the ``.mo`` file beside it (``make catalogs``; docs/i18n.md).
In the code a message is ``_("...")`` where it is shown, or ``N_("...")`` where it is
defined ahead of time (a module constant, passed through ``_()`` where it is shown).
Exceptions raised for bad arguments stay in English, as NumPy's and MindSpore's do.

The instructors' tools (``mhsa_tools``, which never import this package) follow the same
rules with their own catalog (``mhsa_tools.i18n``).

>>> import mhsa_ms as mm
>>> mm.set_language("zh")
'zh'
>>> gettext("checks passed")
'通过的练习'
>>> mm.set_language("en")
'en'
>>> gettext("checks passed")
'checks passed'
"""
import contextlib
import functools
import gettext as _gettext
import locale
import os
from pathlib import Path

from ._checks import check_instance, check_value

#: The languages of the course: English (the language of the source code) and 简体中文.
LANGUAGES = ("en", "zh")
#: The environment variable that names the language (set by :func:`set_language`).
LANGUAGE_ENV = "MHSA_MS_LANG"
#: The locale variables, in the order GNU gettext reads them.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
#: Language -> the gettext locale of its catalog (English is the source: no catalog).
CATALOG_LOCALES = {"zh": "zh_CN"}
DOMAIN = "mhsa_ms"
LOCALE_DIR = Path(__file__).with_name("locale")

_UNSET = object()
_environment_before = [_UNSET]  # MHSA_MS_LANG as it was before the first set_language()


def language_code(name):
    """'zh' or 'en' for a language or locale name such as 'zh-CN' or 'en_US.UTF-8'; None for others.

    >>> [language_code(name) for name in ("zh", "zh_CN.UTF-8", "zh-Hans", "EN_us", "C.UTF-8", "fr_FR", "")]
    ['zh', 'zh', 'zh', 'en', None, None, None]
    """
    base = name.strip().lower().replace("-", "_").split(".")[0].split("_")[0]
    if base == "chinese":  # Windows' locale names ("Chinese (Simplified)_China")
        return "zh"
    return base if base in LANGUAGES else None


def language_from_environment(environ=None):
    """The language the environment asks for: ``MHSA_MS_LANG``, else the locale, else 'en'.

    >>> language_from_environment({"MHSA_MS_LANG": "zh"}), language_from_environment({"LANG": "zh_CN.UTF-8"})
    ('zh', 'zh')
    >>> language_from_environment({"LANGUAGE": "en_US:zh_CN", "LANG": "zh_CN.UTF-8"})
    'en'
    >>> language_from_environment({"LC_ALL": "C.UTF-8", "LANG": "zh_CN.UTF-8"})
    'en'
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get(LANGUAGE_ENV, "").strip()
    if chosen:
        return language_code(chosen) or "en"
    for variable in LOCALE_VARIABLES:
        value = environ.get(variable, "").strip()
        if value:  # the first one set decides, as in gettext ("C" means English)
            return language_code(value.split(":")[0]) or "en"
    if environ is os.environ:  # Windows and some macOS sessions set none of them
        return language_code(locale.getlocale()[0] or "") or "en"
    return "en"


def current_language():
    """The language in effect now: 'zh' or 'en' (see the module's docstring)."""
    return language_from_environment()


def set_language(language):
    """Choose the language of the package's messages, check-in card and figure labels.

    Args:
        language: ``"zh"`` (简体中文) or ``"en"``; regional forms such as ``"zh-CN"`` or
            ``"en_US"`` are read as those.  ``None`` forgets the choice: back to the
            environment as it was (``MHSA_MS_LANG``, else the locale).

    Returns:
        The language now in effect, ``"zh"`` or ``"en"``.

    The choice is stored in the environment variable ``MHSA_MS_LANG``, so the processes a
    lesson starts (``mhsa-ms`` commands, msrun workers) speak the same language.  Choosing
    Chinese also gives matplotlib a font with Chinese glyphs for every figure drawn
    afterwards (:func:`mhsa_ms.course.fonts.use_cjk_font`); where none is installed, a
    warning says what to install.

    >>> set_language("zh-CN")
    'zh'
    >>> set_language("fr")
    Traceback (most recent call last):
    ...
    ValueError: language must be 'zh' or 'en' (or a regional form such as 'zh-CN'), got 'fr'
    >>> set_language("en")
    'en'
    """
    check_instance("language", language, (str, type(None)), "a str such as 'zh' or 'en', or None")
    code = None if language is None else language_code(language)
    check_value("language", language, language is None or code is not None,
                "'zh' or 'en' (or a regional form such as 'zh-CN')")
    if _environment_before[0] is _UNSET:
        _environment_before[0] = os.environ.get(LANGUAGE_ENV)
    if code is not None:
        os.environ[LANGUAGE_ENV] = code
    elif _environment_before[0] is None:
        os.environ.pop(LANGUAGE_ENV, None)
    else:
        os.environ[LANGUAGE_ENV] = _environment_before[0]
    chosen = current_language()
    if chosen == "zh":
        from .course.fonts import use_cjk_font

        use_cjk_font()
    return chosen


@contextlib.contextmanager
def speaking(language):
    """Within the block, messages are in ``language`` ('zh' or 'en'); the choice before it comes back after.

    For a process that answers others in their language (the referee judges each submission in
    its edition's); unlike :func:`set_language` it loads no font.

    >>> with speaking("zh"):
    ...     gettext("checks passed")
    '通过的练习'
    """
    check_instance("language", language, str, "'zh' or 'en'")
    code = language_code(language)
    check_value("language", language, code is not None, "'zh' or 'en' (or a regional form such as 'zh-CN')")
    before = os.environ.get(LANGUAGE_ENV)
    os.environ[LANGUAGE_ENV] = code
    try:
        yield code
    finally:
        if before is None:
            os.environ.pop(LANGUAGE_ENV, None)
        else:
            os.environ[LANGUAGE_ENV] = before


@functools.lru_cache(maxsize=None)
def translation(language):
    """The gettext translations of ``language`` (English: the messages as written)."""
    if language not in CATALOG_LOCALES:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[CATALOG_LOCALES[language]])


def gettext(message):
    """``message`` in the language in effect."""
    return translation(current_language()).gettext(message)


def N_(message):
    """Mark ``message`` for the catalog without translating it yet (module constants)."""
    return message


_ = gettext
