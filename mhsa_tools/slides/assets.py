"""Deck assets: reveal.js and KaTeX from the npm packages pinned in package-lock.json, inlined."""
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


def asset_versions(modules):
    return {
        name: json.loads((modules / name / "package.json").read_text(encoding="utf-8"))["version"]
        for name in ("reveal.js", "katex")
    }
