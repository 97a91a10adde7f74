"""A CJK font for figures and the card: found in a current font cache, found after refreshing a
stale one (a cache built before the font was installed), and a visible warning when there is none;
matplotlib's missing-glyph warning is never silenced."""
import json
import os
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from matplotlib import font_manager  # noqa: E402

import mhsa_ms as mm  # noqa: E402
from mhsa_ms.course import fonts  # noqa: E402


def stale_copy(manager, cache_path):
    """``manager`` as a cache built before any CJK font was installed: written to ``cache_path``, read back."""
    font_manager.json_dump(manager, cache_path)
    cache = json.loads(cache_path.read_text(encoding="utf-8"))
    cjk_files = {entry["fname"] for entry in cache["ttflist"] if entry["name"] in fonts.CJK_FAMILIES}
    cache["ttflist"] = [entry for entry in cache["ttflist"] if entry["fname"] not in cjk_files]
    cache_path.write_text(json.dumps(cache), encoding="utf-8")
    return font_manager.json_load(cache_path)


def no_system_scan():
    raise AssertionError("a current cache must not make the system's fonts be scanned")


@pytest.fixture(scope="module")
def cjk_file(system_commands):
    """The font file of Debian's fonts-noto-cjk (skips, naming the package, without it)."""
    return system_commands("fonts-noto-cjk")[0]


def test_a_stale_cache_is_refreshed_and_then_trusted(cjk_file, tmp_path):
    cache_path = tmp_path / "fontlist.json"
    stale = stale_copy(font_manager.fontManager, cache_path)
    with pytest.raises(AssertionError, match="must not make"):  # nothing CJK cached: the system is scanned
        fonts.find_cjk_font(stale, no_system_scan, cache_path)
    family = fonts.find_cjk_font(stale, font_manager.findSystemFonts, cache_path)
    assert family == "Noto Sans CJK SC"
    refreshed = font_manager.json_load(cache_path)  # written back: the next process trusts it
    assert fonts.find_cjk_font(refreshed, no_system_scan, cache_path) == "Noto Sans CJK SC"
    assert os.path.realpath(cjk_file) in {os.path.realpath(entry.fname) for entry in refreshed.ttflist}


def test_a_process_with_a_stale_cache_draws_chinese_without_missing_glyphs(cjk_file, tmp_path):
    """End to end, as after `make lab`: matplotlib's own cache predates the font."""
    config = tmp_path / "mplconfig"
    config.mkdir()
    cache_path = config / f"fontlist-v{font_manager.FontManager.__version__}.json"
    stale_copy(font_manager.fontManager, cache_path)
    script = ("import warnings; warnings.simplefilter('error');\n"
              "import mhsa_ms as mm; mm.set_language('zh');\n"
              f"print(mm.checkin(3, name='张三', directory={str(tmp_path)!r}).name)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "MPLCONFIGDIR": str(config)})
    assert done.returncode == 0, done.stderr[-3000:]  # a missing glyph or MissingCJKFontWarning would raise
    assert done.stdout.splitlines()[0].startswith("第 3 天打卡 · 拼接与输出投影")
    assert "Noto Sans CJK SC" in {entry["name"] for entry in json.loads(cache_path.read_text())["ttflist"]}


@pytest.fixture
def no_cjk_font(monkeypatch, tmp_path):
    """A machine without any CJK font: matplotlib's font list (the one it draws with) and the
    system scan have none."""
    manager = font_manager.fontManager
    listed = manager.ttflist
    manager.ttflist = [entry for entry in listed if entry.name not in fonts.CJK_FAMILIES]
    manager._findfont_cached.cache_clear()
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda: [])
    monkeypatch.setattr(matplotlib, "get_cachedir", lambda: str(tmp_path))
    monkeypatch.setattr(fonts, "_found", {})
    yield
    manager.ttflist = listed
    manager._findfont_cached.cache_clear()  # forget what was not found meanwhile


def test_without_a_font_a_warning_says_what_to_install_and_glyph_warnings_stay(no_cjk_font, tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mm.checkin(0, name="张三", directory=tmp_path)
    ours = [w for w in caught if issubclass(w.category, fonts.MissingCJKFontWarning)]
    glyphs = [w for w in caught if "missing from font" in str(w.message)]
    assert len(ours) == 1 and "apt-get install fonts-noto-cjk" in str(ours[0].message)
    assert glyphs, "matplotlib's missing-glyph warning must be shown, not silenced"
    assert capsys.readouterr().out.strip().endswith("· 张三")


def test_the_warning_speaks_chinese_to_a_chinese_learner(no_cjk_font):
    try:
        with pytest.warns(fonts.MissingCJKFontWarning, match="没有找到带中文字形的字体.*apt-get install fonts-noto-cjk"):
            assert mm.set_language("zh") == "zh"
    finally:
        mm.set_language(None)


def test_english_text_needs_no_cjk_font(no_cjk_font, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mm.checkin(0, name="Ana", directory=tmp_path)
    assert [w for w in caught if "font" in str(w.message).lower()] == []
    assert fonts._found == {}  # not even looked for
