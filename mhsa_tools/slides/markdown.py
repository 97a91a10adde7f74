"""Slide content: Markdown with formulas (KaTeX, rendered at build time) and code cells with their outputs."""
import base64
import html
import json
import mimetypes
import re
import shutil
import subprocess
from pathlib import Path

from ..i18n import translator

_MATH = re.compile(
    r"(?P<fence>^(?P<f>`{3,}|~{3,})[^\n]*\n.*?^[ \t]*(?P=f)[ \t]*$)"  # fenced code: no math inside
    r"|(?P<code>(?P<bt>`+).+?(?P=bt))"  # inline code span: no math inside
    r"|(?P<esc>\\\$)"  # an escaped dollar is a dollar
    r"|\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<bd>.+?)\\\]"
    r"|(?P<env>\\begin\{(?P<name>[A-Za-z]+\*?)\}.+?\\end\{(?P=name)\})"
    r"|\\\((?P<bi>.+?)\\\)"
    r"|\$(?P<di>[^\s$`](?:[^$`]*?[^\s$\\`])?)\$(?!\d)",  # inline: no space inside the dollars, no backtick
    re.S | re.M,
)
_PLACEHOLDER = "MHSAMSMATH{}X"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NBVAL_LINE = re.compile(r"^[ \t]*# NBVAL_\w+[ \t]*\n?", re.M)
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*", re.S | re.M)

_KATEX_SCRIPT = r"""
const katex = require(process.argv[1]);
let data = "";
process.stdin.on("data", (chunk) => { data += chunk; });
process.stdin.on("end", () => {
  const out = JSON.parse(data).map(([tex, display]) => {
    try {
      return [true, katex.renderToString(tex, {displayMode: display, throwOnError: true, strict: "ignore"})];
    } catch (err) {
      return [false, String(err.message)];
    }
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def split_math(text, start=0):
    r"""Replace the formulas of a markdown text by placeholders.

    Returns ``(text, formulas)`` with ``formulas`` a list of ``(tex, display)``;
    placeholders are numbered from ``start``.  Code spans, fenced code and
    escaped dollars are left alone.

    >>> split_math(r"Scores $QK^\top$ and $$\frac{a}{b}$$ but not `$HOME` or \$5")
    ('Scores MHSAMSMATH0X and MHSAMSMATH1X but not `$HOME` or \\$5', [('QK^\\top', False), ('\\frac{a}{b}', True)])
    """
    formulas = []

    def replace(match):
        groups = match.groupdict()
        if groups["fence"] or groups["code"] or groups["esc"]:
            return match.group(0)
        if groups["env"]:
            formulas.append((groups["env"], True))
        else:
            display = groups["dd"] is not None or groups["bd"] is not None
            tex = next(groups[g] for g in ("dd", "bd", "bi", "di") if groups[g] is not None)
            formulas.append((tex.strip(), display))
        return _PLACEHOLDER.format(start + len(formulas) - 1)

    return _MATH.sub(replace, text), formulas


def cell_text(source):
    return "".join(source) if isinstance(source, list) else source


def render_tex(formulas, modules):
    """Render ``(tex, display)`` pairs to HTML with KaTeX; raise ValueError on a TeX error."""
    if not formulas:
        return []
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node not found: install Node.js to render the formulas with KaTeX")
    done = subprocess.run(
        [node, "-e", _KATEX_SCRIPT, str((modules / "katex").resolve())],
        input=json.dumps(formulas), capture_output=True, text=True, check=True,
    )
    rendered = []
    for (tex, _), (ok, result) in zip(formulas, json.loads(done.stdout)):
        if not ok:
            raise ValueError(f"formula {tex!r} does not render with KaTeX: {result}")
        rendered.append(result)
    return rendered


class Renderer:
    """Turns the shown cells of one notebook into reveal.js HTML, its own words in ``language``."""

    def __init__(self, notebook_path, language="en"):
        import mistune
        from pygments.formatters import HtmlFormatter

        self.folder = Path(notebook_path).parent
        self.gettext = translator(language)
        self.formatter = HtmlFormatter(nowrap=True)
        renderer = self

        class _Html(mistune.HTMLRenderer):
            def block_code(self, code, info=None):
                return renderer.code(code, ((info or "").split() or ["text"])[0], "md-code")

        self.markdown = mistune.create_markdown(
            escape=False, renderer=_Html(escape=False), plugins=["strikethrough", "table"]
        )
        self.formulas = []

    def code(self, source, language, css_class):
        from pygments import highlight
        from pygments.lexers import TextLexer, get_lexer_by_name
        from pygments.util import ClassNotFound

        try:
            lexer = get_lexer_by_name(language)
        except ClassNotFound:
            lexer = TextLexer()
        body = highlight(source, lexer, self.formatter)
        return f'<pre class="{css_class} highlight"><code>{body.rstrip()}</code></pre>\n'

    def _image_data(self, src, attachments):
        if src.startswith("attachment:"):
            name = src[len("attachment:"):]
            if name not in attachments:
                raise ValueError(f"image src={src!r}: the cell has no such attachment")
            mime, data = next(iter(attachments[name].items()))
            return f"data:{mime};base64,{cell_text(data).replace(chr(10), '')}"
        if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.I) and not src.startswith("data:"):
            raise ValueError(f"image src={src!r}: slides must work offline, embed the image in the notebook")
        if src.startswith("data:"):
            return src
        path = self.folder / src
        if not path.is_file():
            raise ValueError(f"image src={src!r}: no such file next to the notebook")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"

    def markdown_cell(self, cell):
        text, formulas = split_math(cell_text(cell["source"]), start=len(self.formulas))
        self.formulas.extend(formulas)
        body = self.markdown(text)
        attachments = cell.get("attachments", {})
        body = re.sub(
            r'(<img\b[^>]*?\bsrc=")([^"]*)(")',
            lambda m: m.group(1) + html.escape(self._image_data(html.unescape(m.group(2)), attachments)) + m.group(3),
            body,
        )
        return f'<div class="md">\n{body}</div>\n'

    def code_cell(self, cell):
        source = _SOLUTION.sub(lambda m: m.group(1) + "...", _NBVAL_LINE.sub("", cell_text(cell["source"]))).strip("\n")
        outputs = [self._output(out) for out in cell.get("outputs", [])]
        has_image = any(out.get("output_type") in ("display_data", "execute_result") and image_mime(out)
                        for out in cell.get("outputs", []))
        code = self.code(source, "python", "cell-input") if source else ""
        if code and has_image:
            _ = self.gettext
            summary = _("code")
            code = f"<details><summary>{summary}</summary>\n{code}</details>\n"
        return code + "".join(outputs)

    def _output(self, out):
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr":
                return ""
            return self._pre(cell_text(out.get("text", "")), "cell-output")
        if kind == "error":
            return self._pre(f"{out.get('ename', '')}: {out.get('evalue', '')}", "cell-error")
        if kind not in ("display_data", "execute_result"):
            return ""
        data = out.get("data", {})
        mime = image_mime(out)
        if mime is not None:
            _ = self.gettext
            alt = _("figure")
            payload = cell_text(data[mime])
            if mime == "image/svg+xml":
                payload = base64.b64encode(payload.encode("utf-8")).decode("ascii")
            size = out.get("metadata", {}).get(mime, {})
            width = f' width="{int(size["width"])}"' if isinstance(size, dict) and "width" in size else ""
            src = f"data:{mime};base64,{payload.replace(chr(10), '')}"
            return f'<div class="cell-output-image"><img src="{src}"{width} alt="{alt}"></div>\n'
        if "text/html" in data:
            return f'<div class="cell-output-html">{cell_text(data["text/html"])}</div>\n'
        if "text/plain" in data:
            return self._pre(cell_text(data["text/plain"]), "cell-output")
        return ""

    @staticmethod
    def _pre(text, css_class):
        text = _ANSI.sub("", text).rstrip("\n")
        return f'<pre class="{css_class}"><code>{html.escape(text)}</code></pre>\n' if text else ""


def image_mime(out):
    data = out.get("data", {})
    return next((m for m in ("image/png", "image/jpeg", "image/svg+xml") if m in data), None)


def plain_text(fragment):
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def safe(text, tag):
    return re.sub(f"</({tag})", r"<\\/\1", text, flags=re.I)
