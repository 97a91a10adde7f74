"""The tools' language: ``mhsa-ms`` output, decks and grading in 简体中文 or English.

The rules are the learner's package's (``mhsa_ms.i18n``, which the tools never import: the
two small functions that read the environment are kept identical, and
tests/course/test_language.py checks that they agree): ``MHSA_MS_LANG``, else the locale
(``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, else Python's ``locale.getlocale()``),
else English.  What is written about a notebook (its deck, the verdict its reference
lesson shows, its feedback) follows the notebook's own edition instead: its metadata
``mhsa_ms.language`` (:func:`notebook_language`).

The messages live in the catalog ``mhsa_tools/locale/zh_CN/LC_MESSAGES/mhsa_tools.po``,
compiled to the ``.mo`` beside it (``make catalogs``; docs/i18n.md).  In the code:
``_("...")`` with ``from .i18n import gettext as _`` for the language of the environment,
``_ = translator(language)`` for a given one.
"""
import functools
import gettext as _gettext
import locale
import os
from pathlib import Path

LANGUAGES = ("en", "zh")
LANGUAGE_ENV = "MHSA_MS_LANG"
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
CATALOG_LOCALES = {"zh": "zh_CN"}
DOMAIN = "mhsa_tools"
LOCALE_DIR = Path(__file__).with_name("locale")
#: The ``lang`` attribute of an HTML page in each language.
HTML_LANG = {"en": "en", "zh": "zh-CN"}


def language_code(name):
    """'zh' or 'en' for a language or locale name such as 'zh-CN' or 'en_US.UTF-8'; None for others.

    >>> [language_code(name) for name in ("zh", "zh_CN.UTF-8", "EN_us", "C", "fr")]
    ['zh', 'zh', 'en', None, None]
    """
    base = name.strip().lower().replace("-", "_").split(".")[0].split("_")[0]
    if base == "chinese":  # Windows' locale names ("Chinese (Simplified)_China")
        return "zh"
    return base if base in LANGUAGES else None


def language_from_environment(environ=None):
    """The language the environment asks for: ``MHSA_MS_LANG``, else the locale, else 'en'.

    >>> language_from_environment({"MHSA_MS_LANG": "zh"}), language_from_environment({"LC_ALL": "C"})
    ('zh', 'en')
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


def notebook_language(nb):
    """The edition of a notebook (dict or nbformat node): its metadata ``mhsa_ms.language``,
    'en' when it has none (the lessons written before the editions); None when it names a
    language the course does not have.

    >>> notebook_language({"metadata": {"mhsa_ms": {"day": 1, "language": "zh"}}})
    'zh'
    >>> notebook_language({"metadata": {}}), notebook_language({"metadata": {"mhsa_ms": {"language": "fr"}}})
    ('en', None)
    """
    metadata = nb.get("metadata") if isinstance(nb, dict) else None
    meta = metadata.get("mhsa_ms") if isinstance(metadata, dict) else None
    language = meta.get("language", "en") if isinstance(meta, dict) else "en"
    return language if language in LANGUAGES else None


@functools.lru_cache(maxsize=None)
def translation(language):
    """The gettext translations of ``language`` (English: the messages as written)."""
    if language not in CATALOG_LOCALES:
        return _gettext.NullTranslations()
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[CATALOG_LOCALES[language]])


def translator(language):
    """The ``gettext`` function of ``language`` ('zh' or 'en'), to be bound to ``_``."""
    return translation(language).gettext


#: The learner's package's catalogs, read as data (the tools never import ``mhsa_ms``): they hold
#: the lesson titles (``mhsa_ms.course.card.LESSON_TITLES``) that the lessons' metadata carries.
LESSON_LOCALE_DIR = Path(__file__).resolve().parents[1] / "mhsa_ms" / "locale"


def lesson_title(title, language):
    """A lesson's title (its metadata ``mhsa_ms.title``, in English) as the check-in card shows
    it in ``language``: one translation of each title, the learner's package's.

    >>> lesson_title("Scaling out", "zh"), lesson_title("Scaling out", "en")
    ('扩展到多个设备', 'Scaling out')
    """
    if language not in CATALOG_LOCALES:
        return title
    catalog = _gettext.translation("mhsa_ms", LESSON_LOCALE_DIR, languages=[CATALOG_LOCALES[language]], fallback=True)
    return catalog.gettext(title)


def gettext(message):
    """``message`` in the language of the environment."""
    return translation(language_from_environment()).gettext(message)


def N_(message):
    """Mark ``message`` for the catalog without translating it yet (module constants)."""
    return message
