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
reveal.js, KaTeX's style sheet and the KaTeX fonts the formulas use are
inlined, so a deck makes no network request when it is viewed.  The
JavaScript and CSS come from the npm packages pinned in ``package-lock.json``
(``npm ci`` installs them into ``node_modules/`` on the first build).

Run it with ``make slides`` or ``mhsa-ms slides [NOTEBOOK ...]``.
"""
import base64
import hashlib
import html
import json
import mimetypes
import re
import shutil
import subprocess
from pathlib import Path

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
_STARTS = ("slide", "subslide")
_LEFT_OUT = ("skip", "notes")

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
_FILE_URL = re.compile(r"url\((?!\s*['\"]?data:)")  # a CSS url() that is not inline data
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

_DECK_CSS = """
:root {
  --r-main-font: system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC",
    "PingFang SC", "Microsoft YaHei", Helvetica, Arial, sans-serif;
  --r-heading-font: var(--r-main-font);
  --r-heading-text-transform: none;
  --r-main-font-size: 30px;
  --r-code-font: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
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
"""

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
        [kind, cell["cell_type"], _text(cell["source"]),
         [[out.get("output_type"), out.get("name"), sorted(out.get("data", {}))] for out in cell.get("outputs", [])]]
        for _, cell, kind in slide_cells(nb)
    ]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


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


def _text(source):
    return "".join(source) if isinstance(source, list) else source


def project_root():
    """The folder holding ``package.json`` (the repository root)."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "package.json").is_file() else Path.cwd()


def ensure_assets(root=None):
    """Install the pinned reveal.js and KaTeX with ``npm ci`` if needed; return node_modules."""
    root = Path(root) if root is not None else project_root()
    lock = root / "package-lock.json"
    if not lock.is_file():
        raise FileNotFoundError(f"root={str(root)!r}: expected package.json and package-lock.json there")
    modules = root / "node_modules"
    marker = modules / ".package-lock.json"
    if not marker.is_file() or marker.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm not found: install Node.js and npm to build the slides (apt-get install nodejs npm)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=root, check=True)
    return modules


def _render_tex(formulas, modules):
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


def _katex_css(modules, rendered):
    """KaTeX's style sheet with the fonts the rendered formulas use inlined as woff2 data URIs."""
    dist = modules / "katex" / "dist"
    css = (dist / "katex.min.css").read_text(encoding="utf-8")
    faces = re.findall(r"@font-face\{[^}]*\}", css)
    rules = re.sub(r"@font-face\{[^}]*\}", "", css)
    used_classes = {name for block in re.findall(r'class="([^"]*)"', "".join(rendered)) for name in block.split()}
    families = {"KaTeX_Main"}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", rules):
        family = re.search(r"font-family:\s*\"?(KaTeX_\w+)", body)
        if family is None:
            continue
        for selector in selectors.split(","):
            if set(re.findall(r"\.([\w-]+)", selector)) - {"katex"} <= used_classes:
                families.add(family.group(1))
    inlined = []
    for face in faces:
        family = re.search(r"font-family:\s*\"?(KaTeX_\w+)", face).group(1)
        if family not in families:
            continue
        woff2 = re.search(r"url\((fonts/[^)]+\.woff2)\)", face).group(1)
        data = base64.b64encode((dist / woff2).read_bytes()).decode("ascii")
        src = f'src:url(data:font/woff2;base64,{data}) format("woff2")'
        inlined.append(re.sub(r"src:[^;}]*", lambda _: src, face))
    if _FILE_URL.search(rules):
        raise ValueError("katex.min.css refers to a file other than its fonts: cannot inline it")
    return "".join(inlined) + rules


def _reveal_assets(modules):
    """reveal.js, its base CSS and the white theme without the web fonts it embeds."""
    dist = modules / "reveal.js" / "dist"
    theme = (dist / "theme" / "white.css").read_text(encoding="utf-8")
    theme = re.sub(r"@font-face\{[^}]*\}", "", theme)
    theme = re.sub(r"@import[^;]*;", "", theme)
    base = (dist / "reveal.css").read_text(encoding="utf-8")
    for name, css in (("reveal.css", base), ("theme/white.css", theme)):
        if _FILE_URL.search(css):
            raise ValueError(f"reveal.js {name} refers to another file: cannot inline it")
    return (dist / "reveal.js").read_text(encoding="utf-8"), base + theme


def _versions(modules):
    return {
        name: json.loads((modules / name / "package.json").read_text(encoding="utf-8"))["version"]
        for name in ("reveal.js", "katex")
    }


class _Renderer:
    """Turns the shown cells of one notebook into reveal.js HTML."""

    def __init__(self, notebook_path):
        import mistune
        from pygments.formatters import HtmlFormatter

        self.folder = Path(notebook_path).parent
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
            return f"data:{mime};base64,{_text(data).replace(chr(10), '')}"
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
        text, formulas = split_math(_text(cell["source"]), start=len(self.formulas))
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
        source = _SOLUTION.sub(lambda m: m.group(1) + "...", _NBVAL_LINE.sub("", _text(cell["source"]))).strip("\n")
        outputs = [self._output(out) for out in cell.get("outputs", [])]
        has_image = any(out.get("output_type") in ("display_data", "execute_result") and _image_mime(out)
                        for out in cell.get("outputs", []))
        code = self.code(source, "python", "cell-input") if source else ""
        if code and has_image:
            code = f"<details><summary>code</summary>\n{code}</details>\n"
        return code + "".join(outputs)

    def _output(self, out):
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr":
                return ""
            return self._pre(_text(out.get("text", "")), "cell-output")
        if kind == "error":
            return self._pre(f"{out.get('ename', '')}: {out.get('evalue', '')}", "cell-error")
        if kind not in ("display_data", "execute_result"):
            return ""
        data = out.get("data", {})
        mime = _image_mime(out)
        if mime is not None:
            payload = _text(data[mime])
            if mime == "image/svg+xml":
                payload = base64.b64encode(payload.encode("utf-8")).decode("ascii")
            size = out.get("metadata", {}).get(mime, {})
            width = f' width="{int(size["width"])}"' if isinstance(size, dict) and "width" in size else ""
            src = f"data:{mime};base64,{payload.replace(chr(10), '')}"
            return f'<div class="cell-output-image"><img src="{src}"{width} alt="figure"></div>\n'
        if "text/html" in data:
            return f'<div class="cell-output-html">{_text(data["text/html"])}</div>\n'
        if "text/plain" in data:
            return self._pre(_text(data["text/plain"]), "cell-output")
        return ""

    @staticmethod
    def _pre(text, css_class):
        text = _ANSI.sub("", text).rstrip("\n")
        return f'<pre class="{css_class}"><code>{html.escape(text)}</code></pre>\n' if text else ""


def _image_mime(out):
    data = out.get("data", {})
    return next((m for m in ("image/png", "image/jpeg", "image/svg+xml") if m in data), None)


def _plain_text(fragment):
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _safe(text, tag):
    return re.sub(f"</({tag})", r"<\\/\1", text, flags=re.I)


def build_deck(notebook_path, deck_path, modules=None):
    """Write the deck of one notebook to ``deck_path`` and return its path.

    ``modules`` is the node_modules folder (``ensure_assets()`` by default).
    The notebook's metadata ``mhsa_ms.title`` (and ``mhsa_ms.day``) name the
    deck, and its first slide must show that title.
    """
    import nbformat

    notebook_path, deck_path = Path(notebook_path), Path(deck_path)
    nb = nbformat.read(notebook_path, as_version=4)
    meta = nb.metadata.get("mhsa_ms", {})
    if not meta.get("title"):
        raise ValueError(f"{notebook_path}: notebook metadata mhsa_ms.title is missing")
    title = meta["title"]
    heading = f"Day {meta['day']}: {title}" if "day" in meta else title
    modules = Path(modules) if modules is not None else ensure_assets()

    renderer = _Renderer(notebook_path)
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
    if title.casefold() not in _plain_text(first_text).casefold():
        raise ValueError(
            f"{notebook_path}: the first slide must show the lesson title {title!r} (metadata mhsa_ms.title)"
        )
    sections = []
    for group in slides:
        inner = [section(blocks) for blocks in group]
        sections.append(inner[0] if len(inner) == 1 else "<section>\n" + "\n".join(inner) + "\n</section>")
    rendered = _render_tex([list(f) for f in renderer.formulas], modules)
    body = re.sub(r"MHSAMSMATH(\d+)X", lambda m: rendered[int(m.group(1))], "\n".join(sections))

    from pygments.formatters import HtmlFormatter

    reveal_js, reveal_css = _reveal_assets(modules)
    versions = _versions(modules)
    css = "\n".join([
        reveal_css, _katex_css(modules, rendered), HtmlFormatter().get_style_defs(".highlight"), _DECK_CSS,
    ])
    deck = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mhsa-ms slides (reveal.js {versions['reveal.js']}, KaTeX {versions['katex']})">
<meta name="mhsa-ms-source" content="{html.escape(notebook_path.name)}">
<meta name="mhsa-ms-source-sha256" content="{source_digest(nb)}">
<title>{html.escape(heading)}</title>
<style>
{_safe(css, "style")}
</style>
</head>
<body>
<div class="reveal"><div class="slides">
{body}
</div></div>
<script>
{_safe(reveal_js, "script")}
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
