"""Student-controlled text (folder and file names, messages, verdicts) made safe to show.

- :func:`visible`: for a terminal: control characters (ANSI/OSC escape sequences included) and
  bidirectional overrides become visible escapes, so nothing printed can move the cursor, clear
  the screen, set the title, make a hyperlink or reorder text.
- :func:`csv_cell`: for a spreadsheet, as OWASP advises against CSV injection: a cell that would
  start a formula (``= + - @``, tab, carriage return) gets a leading single quote.
- :func:`markdown`: for the feedback Markdown: visible, then HTML escaped and the Markdown that
  could hide or add content escaped, so a message shows as the text it is (no raw HTML, link,
  image, code span or table cell break).

>>> visible("ok\\x1b[2Jgone\\u202eevil")
'ok\\\\x1b[2Jgone\\\\u202eevil'
>>> csv_cell("=HYPERLINK(\\"http://x\\")"), csv_cell("-rf"), csv_cell("ann"), csv_cell(3)
('\\'=HYPERLINK("http://x")', "'-rf", 'ann', 3)
>>> markdown("<img src=x onerror=alert(1)> [a](http://x) a|b")
'&lt;img src=x onerror=alert(1)&gt; \\\\[a\\\\](http://x) a\\\\|b'
"""
import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN = re.compile(r"([\\`\[\]|])")  # code spans, links and images, table cells


def _escape(match):
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text):
    """``text`` with control and bidirectional-override characters shown as ``\\xNN`` / ``\\uNNNN``."""
    return _CONTROL.sub(_escape, str(text))


def csv_cell(value):
    """A CSV cell that a spreadsheet does not run as a formula (non-strings unchanged)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def markdown(text):
    """``text`` for Markdown: visible, HTML special characters and Markdown markup escaped."""
    text = visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)
