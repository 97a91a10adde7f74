"""Deck assets: reveal.js, KaTeX and the Chinese web font from the npm packages pinned in
package-lock.json, inlined."""
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

_FILE_URL = re.compile(r"url\((?!\s*['\"]?data:)")  # a CSS url() that is not inline data


def project_root():
    """The folder holding ``package.json`` (the repository root)."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "package.json").is_file() else Path.cwd()


def ensure_assets(root=None):
    """Install the pinned reveal.js, KaTeX and Noto Sans SC with ``npm ci`` if needed; return node_modules."""
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


def katex_css(modules, rendered):
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


def reveal_assets(modules):
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


#: The web font of the decks' Chinese text: Noto Sans SC from npm's @fontsource/noto-sans-sc
#: (SIL Open Font License 1.1), cut by the package into ~100 woff2 files by unicode-range.
CJK_FONT_PACKAGE = "@fontsource/noto-sans-sc"
CJK_FONT_FAMILY = "Noto Sans SC"
#: Characters from here up (CJK radicals and punctuation, kana, ideographs, full-width forms,
#: Hangul) are drawn with the web font where it has them; the rest keeps the deck's Latin fonts.
CJK_START = 0x2E80
#: The blocks whose every character the web font must draw (a deck with another fails to build):
#: radicals to unified ideographs, compatibility ideographs and forms, full-width forms, extension B on.
CJK_BLOCKS = ((0x2E80, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x20000, 0x3FFFF))


def _code_points(ranges):
    """``U+4e00-4e0b,U+4e2d`` -> [(0x4E00, 0x4E0B), (0x4E2D, 0x4E2D)]."""
    spans = []
    for part in ranges.split(","):
        low, _, high = part.strip()[2:].partition("-")
        spans.append((int(low, 16), int(high or low, 16)))
    return spans


def cjk_font_faces(modules, text):
    """``@font-face`` rules of Noto Sans SC (regular weight) for the East Asian characters of
    ``text``, each woff2 inlined as a data URI.

    Only the files holding a character of ``text`` are inlined, and each face's
    ``unicode-range`` is narrowed to exactly the characters of ``text`` it draws, so the
    browser takes the web font for those and the deck's Latin fonts for everything else.

    Raises:
        ValueError: when a Chinese character of ``text`` (:data:`CJK_BLOCKS`) is in none of the
            files (other characters the font lacks, such as emoji, are left to the browser's fonts).
    """
    package = modules / CJK_FONT_PACKAGE
    css = (package / "400.css").read_text(encoding="utf-8")
    needed = {ord(character) for character in text if ord(character) >= CJK_START}
    faces, covered = [], set()
    for face in re.findall(r"@font-face\s*\{[^}]*\}", css):
        spans = _code_points(re.search(r"unicode-range:\s*([^;}]*)", face).group(1))
        drawn = sorted(point for point in needed - covered if any(low <= point <= high for low, high in spans))
        if not drawn:
            continue
        covered.update(drawn)
        woff2 = re.search(r"url\(\./(files/[^)]+\.woff2)\)", face).group(1)
        data = base64.b64encode((package / woff2).read_bytes()).decode("ascii")
        faces.append(f"@font-face{{font-family:'{CJK_FONT_FAMILY}';font-style:normal;font-weight:400;"
                     f"font-display:block;src:url(data:font/woff2;base64,{data}) format(\"woff2\");"
                     f"unicode-range:{','.join(f'U+{point:X}' for point in drawn)}}}")
    missing = {point for point in needed - covered if any(low <= point <= high for low, high in CJK_BLOCKS)}
    if missing:
        raise ValueError(f"{CJK_FONT_FAMILY} has no glyph for {''.join(map(chr, sorted(missing)))!r} "
                         f"(code points {', '.join(f'U+{point:04X}' for point in sorted(missing))})")
    return "\n".join(faces)


def asset_versions(modules):
    return {
        name: json.loads((modules / name / "package.json").read_text(encoding="utf-8"))["version"]
        for name in ("reveal.js", "katex", CJK_FONT_PACKAGE)
    }
