"""Slide decks: built from the lesson notebooks, self-contained, checked in headless Chromium.

The browser tests open every committed deck (slides/en/ and slides/zh/NN_name.html) and the decks built
from tests/fixtures/slides_fixture.ipynb and its Chinese edition slides_fixture_zh.ipynb
with the network blocked, and save a screenshot of one slide per deck to
slides/_build/screens/.  Building needs Node.js and npm, the browser tests Chromium and
ChromeDriver: without them those tests are skipped, naming the Debian packages (`make test`
as root installs them; tests/conftest.py).
"""
import json
import re
import tempfile
from pathlib import Path

import nbformat
import pytest

from mhsa_tools import slides
from mhsa_tools.slides.markdown import plain_text

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "slides_fixture.ipynb"
FIXTURE_ZH = ROOT / "tests" / "fixtures" / "slides_fixture_zh.ipynb"
LESSONS = [*slides.lesson_notebooks(ROOT / "lessons" / "en"), *slides.lesson_notebooks(ROOT / "lessons" / "zh")]
SCREENS = ROOT / "slides" / "_build" / "screens"


def _md(source, kind=None):
    cell = nbformat.v4.new_markdown_cell(source)
    if kind is not None:
        cell.metadata["slideshow"] = {"slide_type": kind}
    return cell


def _marked(nb, kinds):
    return sum(c.get("metadata", {}).get("slideshow", {}).get("slide_type") in kinds for c in nb.cells)


# ---------------------------------------------------------------- builder, no browser


def test_split_math_kinds():
    text, formulas = slides.split_math(
        "a $x_1$ b \\(y\\) c\n\n$$\\frac{1}{2}$$\n\n\\[z\\]\n\n\\begin{align}a&=b\\end{align}\n"
    )
    assert formulas == [("x_1", False), ("y", False), ("\\frac{1}{2}", True), ("z", True),
                        ("\\begin{align}a&=b\\end{align}", True)]
    assert "$" not in text and "\\" not in text


def test_split_math_leaves_code_prices_and_escapes():
    source = "cost \\$5 and $ 3 $, `$PATH`\n\n```bash\necho $HOME $USER\n```\n"
    assert slides.split_math(source) == (source, [])


def test_slide_cells_rules():
    nb = nbformat.v4.new_notebook(cells=[_md("# T", "slide"), _md("x"), _md("y", "notes"), _md("z", "fragment"),
                                         _md("w", "subslide"), _md("v", "skip")])
    assert [(i, kind) for i, _, kind in slides.slide_cells(nb)] == [(0, "slide"), (3, "fragment"), (4, "subslide")]
    assert slides.count_slides(nb) == 2
    with pytest.raises(ValueError, match="first cell shown"):
        slides.slide_cells(nbformat.v4.new_notebook(cells=[_md("a", "-"), _md("b", "slide")]))
    with pytest.raises(ValueError, match="slide_type must be one of"):
        slides.slide_cells(nbformat.v4.new_notebook(cells=[_md("a", "title")]))
    with pytest.raises(ValueError, match="nothing to put in the deck"):
        slides.slide_cells(nbformat.v4.new_notebook(cells=[_md("a"), _md("b", "skip")]))


def test_source_digest_follows_slide_cells_and_output_kinds():
    nb = nbformat.read(FIXTURE, as_version=4)
    digest = slides.source_digest(nb)
    nb.cells[1].source += "\n# an unmarked cell changed"
    assert slides.source_digest(nb) == digest
    nb.cells[3].outputs[0].text = "x: (2, 4, 8) after a re-run"  # same kind of output: still current
    assert slides.source_digest(nb) == digest
    nb.cells[4].outputs = []  # the figure is gone: stale
    assert slides.source_digest(nb) != digest
    nb = nbformat.read(FIXTURE, as_version=4)
    nb.cells[0].source += " (changed)"
    assert slides.source_digest(nb) != digest


@pytest.fixture(scope="module")
def node_modules(system_commands):
    """reveal.js and KaTeX as pinned in package-lock.json (the first build runs `npm ci`)."""
    system_commands("nodejs", "npm")
    return slides.ensure_assets()


@pytest.fixture(scope="module")
def fixture_deck(node_modules):
    """The fixture notebook's deck, built into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        yield slides.build_deck(FIXTURE, Path(tmp) / "slides_fixture.html", node_modules)


@pytest.fixture(scope="module")
def fixture_deck_zh(node_modules):
    """The Chinese fixture notebook's deck, built into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        yield slides.build_deck(FIXTURE_ZH, Path(tmp) / "slides_fixture_zh.html", node_modules)


def deck_text(deck):
    """The text a deck shows (what its web fonts must draw): its title and its slides."""
    title = re.search(r"<title>(.*?)</title>", deck, re.S).group(1)
    body = re.search(r'<div class="slides">(.*)</div></div>', deck, re.S).group(1)
    return plain_text(title) + plain_text(body)


def inlined_font(deck):
    """{code point: woff2 size in bytes} of the Noto Sans SC faces inlined in a deck."""
    drawn = {}
    for data, ranges in re.findall(r"@font-face\{font-family:'Noto Sans SC';[^}]*?base64,([^)]+)\)[^}]*?"
                                   r"unicode-range:([^}]*)\}", deck):
        for point in ranges.split(","):
            assert int(point[2:], 16) not in drawn, "two faces draw one character"
            drawn[int(point[2:], 16)] = len(data) * 3 // 4
    return drawn


def test_zh_deck_speaks_chinese_and_inlines_only_the_glyphs_it_shows(fixture_deck_zh, fixture_deck):
    deck = fixture_deck_zh.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in deck and "<title>第 0 天：幻灯片测试</title>" in deck
    chinese = {ord(character) for character in deck_text(deck) if ord(character) >= 0x2E80}
    assert {0x6CE8, 0x610F, 0x529B, 0xFF08, 0xFF1A} <= chinese  # 注意力 and full-width （：
    assert set(inlined_font(deck)) == chinese  # every Chinese character drawn, nothing else claimed
    files = {size for size in inlined_font(deck).values()}
    assert fixture_deck_zh.stat().st_size < 3 * 2**20 and len(files) < 40, (fixture_deck_zh.stat().st_size, len(files))
    english = fixture_deck.read_text(encoding="utf-8")
    assert '<html lang="en">' in english and "<title>Day 0: Slides fixture</title>" in english
    assert set(inlined_font(english)) == {ord(c) for c in "幻灯片"}  # the one Chinese word of the English deck


def test_a_chinese_character_the_font_lacks_is_an_error(node_modules):
    from mhsa_tools.slides import assets

    assert "unicode-range:U+4E2D" in assets.cjk_font_faces(node_modules, "中 abc 😀")  # emoji: left to the browser
    with pytest.raises(ValueError, match="Noto Sans SC has no glyph for '\U0002a6df' \\(code points U\\+2A6DF\\)"):
        assets.cjk_font_faces(node_modules, "\U0002A6DF")


def test_build_is_reproducible_and_self_contained(fixture_deck, node_modules, tmp_path):
    again = slides.build_deck(FIXTURE, tmp_path / "again.html", node_modules)
    deck = fixture_deck.read_text(encoding="utf-8")
    assert again.read_text(encoding="utf-8") == deck
    # nothing to fetch: no script or style file, every src and CSS url() is inline data
    styles = "".join(re.findall(r"<style>(.*?)</style>", deck, re.S))
    markup = re.sub(r"<(script|style)>.*?</\1>", "", deck, flags=re.S)
    assert re.findall(r"<script\b[^>]*\bsrc|<link\b", deck) == []
    assert re.findall(r"""<[^>]*\bsrc\s*=\s*(?!["']?data:)[^>]*>""", markup) == []
    assert re.findall(r"url\((?!\s*['\"]?data:)", styles) == [] and "@import" not in styles
    for marker in ("SKIPPED-MARKER", "NOTES-MARKER", "UNMARKED-MARKER", "NBVAL_IGNORE_OUTPUT"):
        assert marker not in deck


def test_build_rejects_bad_notebooks(node_modules, tmp_path):
    bad = nbformat.v4.new_notebook(cells=[_md("# Day 9: T", "slide"), _md("$$\\frac{1}{$$", "slide")])
    bad.metadata["mhsa_ms"] = {"day": 9, "title": "T"}
    nbformat.write(bad, tmp_path / "bad.ipynb")
    with pytest.raises(ValueError, match="does not render with KaTeX"):
        slides.build_deck(tmp_path / "bad.ipynb", tmp_path / "bad.html", node_modules)
    untitled = nbformat.v4.new_notebook(cells=[_md("# Something else", "slide")])
    untitled.metadata["mhsa_ms"] = {"day": 9, "title": "T9 title"}
    nbformat.write(untitled, tmp_path / "untitled.ipynb")
    with pytest.raises(ValueError, match="must show the lesson title"):
        slides.build_deck(tmp_path / "untitled.ipynb", tmp_path / "untitled.html", node_modules)
    unexecuted = nbformat.read(FIXTURE, as_version=4)
    unexecuted.cells[4].execution_count = None
    nbformat.write(unexecuted, tmp_path / "unexecuted.ipynb")
    with pytest.raises(ValueError, match="cell 4 is on a slide but was never executed"):
        slides.build_deck(tmp_path / "unexecuted.ipynb", tmp_path / "unexecuted.html", node_modules)


@pytest.mark.parametrize("notebook", LESSONS, ids=[f"{nb.parent.name}/{nb.stem}" for nb in LESSONS])
def test_committed_deck_is_current(notebook):
    deck = ROOT / "slides" / notebook.parent.name / f"{notebook.stem}.html"
    assert deck.is_file(), f"{deck.relative_to(ROOT)} is missing: run `make slides`"
    stored = re.search(r'<meta name="mhsa-ms-source-sha256" content="([0-9a-f]{64})">', deck.read_text(encoding="utf-8"))
    assert stored is not None, f"{deck.name} has no source digest: rebuild it with `make slides`"
    assert stored.group(1) == slides.source_digest(nbformat.read(notebook, as_version=4)), (
        f"{deck.name} is stale: the slide cells or their outputs in {notebook.name} changed; run `make slides`"
    )


# ---------------------------------------------------------------- headless Chromium


@pytest.fixture(scope="module")
def browser(system_commands):
    chromium, chromedriver = system_commands("chromium", "chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,800",
                     # the network is blocked: no host resolves and every proxied request goes nowhere
                     "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        try:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
            yield driver
        finally:
            driver.quit()


_SLIDE_FACTS = """
const slides = Reveal.getSlides();
const config = Reveal.getConfig();
const overfull = [];
let figure = -1, formula = -1;
slides.forEach((slide, k) => {
  const at = Reveal.getIndices(slide);
  Reveal.slide(at.h, at.v);
  const box = slide.querySelector(':scope > .fit');
  const zoom = parseFloat(box.style.zoom || '1');
  const height = box.getBoundingClientRect().height / Reveal.getScale();
  const wide = box.scrollWidth > box.clientWidth + 2;
  if (height > config.height + 2 || wide || zoom < 0.7) overfull.push([k, Math.round(height), wide, zoom]);
  if (figure < 0 && slide.querySelector('img')) figure = k;
  if (formula < 0 && slide.querySelector('.katex')) formula = k;
});
Reveal.slide(0, 0);
const text = document.querySelector('.slides').cloneNode(true);
text.querySelectorAll('.katex-mathml, pre').forEach((e) => e.remove());
const declared = new Set([...document.fonts].map((f) => f.family.replace(/"/g, '')));
const used = new Set();
document.querySelectorAll('.katex-html, .katex-html *').forEach((e) => {
  const family = getComputedStyle(e).fontFamily.split(',')[0].trim().replace(/"/g, '');
  if (family.startsWith('KaTeX')) used.add(family);
});
return {
  total: Reveal.getTotalSlides(),
  first: slides[0].innerText,
  overfull: overfull,
  figure: figure,
  formula: formula,
  katex: document.querySelectorAll('.katex').length,
  katexErrors: document.querySelectorAll('.katex-error').length,
  fragments: document.querySelectorAll('.slides .fragment').length,
  images: [...document.querySelectorAll('.slides img')].map((i) => [i.complete, i.naturalWidth]),
  text: text.textContent,
  undeclaredFonts: [...used].filter((f) => !declared.has(f)),
};
"""

_FONTS_LOADED = """
const done = arguments[arguments.length - 1];
document.fonts.ready.then(() => done([...document.fonts].map((f) => [f.family.replace(/"/g, ''), f.status])));
"""


# Chromium's own pages (chrome://new-tab-page and the like) show up in the performance log too.
CHROMIUM_PAGES = ("chrome:", "chrome-untrusted:", "chrome-search:", "devtools:")


def deck_traffic(events, url):
    """From a performance log: (what the deck at ``url`` requested besides itself and inline data,
    the loads that failed), leaving out the requests of and for Chromium's own pages."""
    chromiums, requested = set(), set()
    for event in events:
        if event["method"] == "Network.requestWillBeSent":
            params = event["params"]
            target, page = params["request"]["url"], params.get("documentURL", "")
            if target.startswith(CHROMIUM_PAGES) or page.startswith(CHROMIUM_PAGES):
                chromiums.add(params["requestId"])
            elif not target.startswith("data:") and target.split("#")[0] != url:
                requested.add(target)
    failed = [event["params"] for event in events
              if event["method"] == "Network.loadingFailed" and event["params"]["requestId"] not in chromiums]
    return requested, failed


def test_deck_traffic_leaves_out_chromiums_own_pages():
    deck = "file:///course/slides/01_self_attention.html"

    def sent(request_id, target, page):
        return {"method": "Network.requestWillBeSent",
                "params": {"requestId": request_id, "request": {"url": target}, "documentURL": page}}

    def failed(request_id):
        return {"method": "Network.loadingFailed", "params": {"requestId": request_id, "errorText": "blocked"}}

    events = [sent("1", deck, deck), sent("2", deck + "#/3", deck), sent("3", "data:font/woff2;base64,AA", deck),
              sent("4", "chrome://new-tab-page/", "chrome://new-tab-page/"),
              sent("5", "chrome://resources/js/x.js", "chrome://new-tab-page/"), failed("5")]
    assert deck_traffic(events, deck) == (set(), [])
    events += [sent("6", "https://cdn.example.org/reveal.js", deck), failed("6"), failed("7")]
    assert deck_traffic(events, deck) == ({"https://cdn.example.org/reveal.js"},
                                          [{"requestId": "6", "errorText": "blocked"},
                                           {"requestId": "7", "errorText": "blocked"}])


def _check_deck(driver, deck, notebook):
    from selenium.webdriver.support.ui import WebDriverWait

    nb = nbformat.read(notebook, as_version=4)
    from mhsa_tools.i18n import lesson_title, notebook_language

    title = lesson_title(nb.metadata["mhsa_ms"]["title"], notebook_language(nb))  # as the deck's language says it
    shown = slides.slide_cells(nb)
    formulas = sum(len(slides.split_math(c.source)[1]) for _, c, _ in shown if c.cell_type == "markdown")
    figures = sum(1 for _, c, _ in shown if c.cell_type == "code" for out in c.get("outputs", [])
                  if any(m in out.get("data", {}) for m in ("image/png", "image/jpeg", "image/svg+xml")))

    # every deck has its key formula and key figure (an executed figure output on a slide)
    assert formulas >= 1 and figures >= 1, f"{notebook.name}: {formulas} formulas and {figures} figures on slides"

    url = deck.resolve().as_uri()
    driver.get_log("performance")  # drop what earlier decks left
    driver.get_log("browser")
    driver.get(url)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return typeof Reveal !== 'undefined' && Reveal.isReady();"),
        message=f"reveal.js did not start in {deck.name}",
    )
    driver.execute_script("Reveal.configure({transition: 'none', fragments: false});")
    facts = driver.execute_script(_SLIDE_FACTS)
    if facts["formula"] >= 0:
        at = driver.execute_script("return Reveal.getIndices(Reveal.getSlides()[arguments[0]]);", facts["formula"])
        driver.execute_script("Reveal.slide(arguments[0], arguments[1]);", at["h"], at["v"] or 0)
    fonts = driver.execute_async_script(_FONTS_LOADED)

    # no request left the page: everything was the deck itself or inline data, and nothing failed
    requested, failed = deck_traffic([json.loads(entry["message"])["message"]
                                      for entry in driver.get_log("performance")], url)
    assert requested == set() and failed == []
    assert [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"] == []

    assert title.casefold() in " ".join(facts["first"].split()).casefold(), facts["first"]
    assert facts["total"] == _marked(nb, ("slide", "subslide")) == slides.count_slides(nb)
    assert facts["fragments"] == _marked(nb, ("fragment",))
    # every slide fits the deck, shrunk to no less than 70 % (else split it with a "subslide")
    assert facts["overfull"] == [], f"slides too big (index, height, too wide, zoom): {facts['overfull']}"
    # math: every formula became KaTeX, none failed, no TeX source is left on screen, fonts are inline
    assert facts["katex"] == formulas and facts["katexErrors"] == 0
    for raw in ("$$", "\\(", "\\[", "\\frac", "\\begin", "MHSAMSMATH"):
        assert raw not in facts["text"], f"raw {raw!r} on a slide"
    assert facts["undeclaredFonts"] == []
    assert all(status != "error" for _, status in fonts), fonts
    if formulas:
        assert ["KaTeX_Main", "loaded"] in fonts, fonts
    # figures: every stored figure output is on a slide and decoded
    assert len(facts["images"]) >= figures
    assert all(complete and width > 0 for complete, width in facts["images"]), facts["images"]

    shown_slide = next((k for k in (facts["figure"], facts["formula"]) if k >= 0), 0)
    at = driver.execute_script("return Reveal.getIndices(Reveal.getSlides()[arguments[0]]);", shown_slide)
    driver.execute_script("Reveal.slide(arguments[0], arguments[1]);", at["h"], at["v"] or 0)
    SCREENS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENS / f"{deck.parent.name}_{deck.stem}.png"))


def test_fixture_deck_in_browser(browser, fixture_deck):
    _check_deck(browser, fixture_deck, FIXTURE)


_CJK_FONT_LOADED = """
const done = arguments[arguments.length - 1];
const text = document.querySelector('.slides').textContent + document.title;
document.fonts.load('30px "Noto Sans SC"', text).then((faces) => done(
  [faces.length, [...document.fonts].filter((f) => f.family.replace(/"/g, '') === 'Noto Sans SC')
                                     .map((f) => f.status)]));
"""


def platform_fonts(driver, selector):
    """{font family: glyphs drawn} for the text of the first element matching ``selector``, as Chromium
    rendered it (DevTools' CSS.getPlatformFontsForNode), and whether each was a web font."""
    driver.execute_cdp_cmd("DOM.enable", {})
    driver.execute_cdp_cmd("CSS.enable", {})
    root = driver.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return {font["familyName"]: (font["glyphCount"], font["isCustomFont"]) for font in fonts}


def test_zh_fixture_deck_in_browser(browser, fixture_deck_zh):
    _check_deck(browser, fixture_deck_zh, FIXTURE_ZH)
    loaded, statuses = browser.execute_async_script(_CJK_FONT_LOADED)
    assert loaded == len(statuses) > 0 and set(statuses) == {"loaded"}, (loaded, statuses)
    browser.execute_script("Reveal.slide(0, 0);")
    heading = platform_fonts(browser, ".slides section h1")  # "第 0 天：幻灯片测试"
    web = {family: count for family, (count, custom) in heading.items() if custom}
    # the 8 Chinese characters (第天：幻灯片测试) drawn with the inlined web font (its files name it
    # "Noto Sans SC" or "Noto Sans SC Thin"), the digit and the spaces with a Latin font
    assert list(web.values()) == [8] and next(iter(web)).startswith("Noto Sans SC"), heading
    assert sum(count for count, _ in heading.values()) == len("第 0 天：幻灯片测试"), heading
    browser.save_screenshot(str(SCREENS / "slides_fixture_zh_title.png"))


@pytest.mark.parametrize("notebook", LESSONS, ids=[f"{nb.parent.name}/{nb.stem}" for nb in LESSONS])
def test_lesson_deck_in_browser(browser, notebook):
    deck = ROOT / "slides" / notebook.parent.name / f"{notebook.stem}.html"
    assert deck.is_file(), f"{deck.relative_to(ROOT)} is missing: run `make slides`"
    _check_deck(browser, deck, notebook)
