"""The notebooks' diagrams: placed, described, and equal to what their code draws now.

Every lesson 00-11 opens with the course map (``NN_course_map.png``, in its first cells)
and shows at least two more diagrams. Every image in a markdown cell is a PNG attachment
of the cell (so it renders offline, on GitHub and on Colab), registered in
``llm101_helpers.diagrams.DIAGRAMS`` for that lesson, with the registry's alt text. The
drift check decodes each embedded PNG and compares its pixels exactly with a fresh
rendering; each PNG records the matplotlib major.minor and FreeType version that drew it,
and when the installed ones differ the check is skipped with that reason (glyphs may be
drawn differently: re-embed with ``make diagrams``). The numbers a figure shows that
come from elsewhere (GPT-2's pieces and merges, notebook 01's vocabulary) are checked
against tiktoken and the course's tokenizers.
"""

from __future__ import annotations

import io
from functools import cache

import nbformat
import numpy as np
import pytest
from PIL import Image

from llm101_helpers.diagrams import DIAGRAMS, course_map, register, style
from llm101_helpers.diagrams import lessons_00_05 as steps
from llm101_helpers.diagrams.course_map import LESSONS, PARTS
from tools.diagrams import IMAGE, embedded, lessons, pixels, refresh

#: the lessons the course map knows (course_map.LESSONS); a new lesson joins by adding a row there
NOTEBOOKS = {path.name[:2]: path for path in lessons() if path.name[:2] in LESSONS}
MAX_BYTES = 64 * 1024
MAP_WITHIN = 4  # the map sits in the first cells: Colab install cell, title, map
INSTALLED = style.engine()  # "matplotlib X.Y, FreeType A.B.C"


@cache
def placed(lesson: str) -> list[tuple[int, str, str, bytes]]:
    """(cell index, attachment name, alt text, PNG bytes) of every image in a lesson."""
    nb = nbformat.read(NOTEBOOKS[lesson], as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        pngs = embedded(cell)
        for alt, name in IMAGE.findall(cell.source):
            found.append((i, name, alt, pngs.get(name, b"")))
    return found


@cache
def fresh_pixels(name: str) -> np.ndarray:
    return pixels(DIAGRAMS[name].png())


def recorded_engine(png: bytes) -> str:
    """The matplotlib and FreeType versions that drew a PNG, as it records them."""
    source = Image.open(io.BytesIO(png)).text.get("Source", "")
    return source.removeprefix("llm101_helpers.diagrams, ")


def test_every_lesson_has_a_map_entry():
    assert {f"{n:02d}" for n in range(12)} <= set(NOTEBOOKS)  # the core course, 00-11
    assert sorted(NOTEBOOKS) == sorted(LESSONS)


@pytest.mark.parametrize("lesson", sorted(NOTEBOOKS))
def test_a_lesson_opens_with_the_map_and_shows_two_more_diagrams(lesson):
    images = placed(lesson)
    map_cells = [i for i, name, _, _ in images if name == f"{lesson}_course_map.png"]
    assert map_cells and map_cells[0] < MAP_WITHIN, (
        f"lesson {lesson}: the course map {lesson}_course_map.png must be among its first "
        f"{MAP_WITHIN} cells, found in cells {map_cells}"
    )
    steps_shown = {name for _, name, _, _ in images if not name.endswith("_course_map.png")}
    assert len(steps_shown) >= 2, f"lesson {lesson} shows {len(steps_shown)} step diagrams"


@pytest.mark.parametrize("lesson", sorted(NOTEBOOKS))
def test_every_image_is_a_described_attachment_of_its_lesson(lesson):
    nb = nbformat.read(NOTEBOOKS[lesson], as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        assert "<img" not in cell.source, f"cell {i}: use ![alt](attachment:...), not <img>"
        refs = IMAGE.findall(cell.source)
        images = cell.source.count("![")
        assert images == len(refs), f"cell {i}: an image that is not an attachment (a path/URL)"
        assert set(embedded(cell)) == {name for _, name in refs}, (
            f"cell {i}: attachments {sorted(embedded(cell))} differ from the images it shows"
        )
        for alt, name in refs:
            assert name in DIAGRAMS, f"cell {i}: {name} is not a registered diagram"
            assert name.startswith(f"{lesson}_"), f"cell {i}: {name} belongs to another lesson"
            assert alt.strip(), f"cell {i}: {name} has no alt text"
            assert alt == DIAGRAMS[name].alt, f"cell {i}: {name}'s alt text is not the registry's"


def test_every_registered_diagram_is_shown_exactly_once():
    shown = [name for lesson in NOTEBOOKS for _, name, _, _ in placed(lesson)]
    assert sorted(shown) == sorted(DIAGRAMS), (
        f"never shown: {sorted(set(DIAGRAMS) - set(shown))}; "
        f"shown twice: {sorted({n for n in shown if shown.count(n) > 1})}"
    )


@pytest.mark.parametrize("lesson", sorted(NOTEBOOKS))
def test_embedded_figures_are_what_the_code_draws_now(lesson):
    for i, name, _, png in placed(lesson):
        drawn_with = recorded_engine(png)
        if drawn_with != INSTALLED:
            pytest.skip(f"{name} was drawn with {drawn_with!r}, this is {INSTALLED!r}: glyphs "
                        "may legitimately differ by a few pixels; re-embed with `make diagrams`")
        embedded_pixels, now = pixels(png), fresh_pixels(name)
        assert embedded_pixels.shape == now.shape, (
            f"cell {i}: {name} is {embedded_pixels.shape[:2]} px, its code draws "
            f"{now.shape[:2]}: run `make diagrams`"
        )
        differ = int((embedded_pixels != now).any(axis=-1).sum())
        assert differ == 0, f"cell {i}: {name}: {differ} pixels differ; run `make diagrams`"


@pytest.mark.parametrize("lesson", sorted(NOTEBOOKS))
def test_embedded_figures_are_small_pngs_at_100_dpi(lesson):
    for _, name, _, png in placed(lesson):
        assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
        assert len(png) <= MAX_BYTES, f"{name} is {len(png)} bytes (at most {MAX_BYTES})"
        dpi = Image.open(io.BytesIO(png)).info.get("dpi", (0, 0))
        assert round(dpi[0]) == style.DPI, f"{name} is at {dpi} dpi"


def test_rendering_twice_gives_the_same_bytes():
    for name in ("00_course_map.png", "04_score_grid.png"):
        assert DIAGRAMS[name].png() == DIAGRAMS[name].png()


def test_the_drift_check_sees_a_changed_drawing(monkeypatch):
    """A changed colour changes the pixels, and refresh() re-embeds the changed figure."""
    name = "01_words_vs_pieces.png"
    nb = nbformat.read(NOTEBOOKS["01"], as_version=4)
    before = pixels(next(png for _, n, _, png in placed("01") if n == name))
    monkeypatch.setitem(style.PALETTE, "token", "#000000")
    assert (pixels(DIAGRAMS[name].png()) != before).any()
    assert name in refresh(nb)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and name in embedded(c))
    assert (pixels(embedded(cell)[name]) != before).any()


def test_the_registry_refuses_bad_names_and_missing_alt_text():
    with pytest.raises(ValueError, match="alt text"):
        register("03_nothing_said.png", alt="  ")
    with pytest.raises(ValueError, match="name"):
        register("embedding.png", alt="A figure that shows an embedding lookup.")
    with pytest.raises(ValueError, match="twice"):
        register("00_course_map.png", alt="The course map drawn a second time, by mistake.")


def test_the_map_highlights_parts_it_has():
    for lesson, (_, parts) in LESSONS.items():
        assert set(parts) <= set(PARTS) | {"block", "loss"}, lesson
    with pytest.raises(ValueError, match="no lesson '99'"):
        course_map("99")


# --- the numbers the figures show, against their sources ---------------------------------


@pytest.fixture(scope="module")
def gpt2():
    tiktoken = pytest.importorskip("tiktoken")
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as exc:  # no network and no TIKTOKEN_CACHE_DIR
        pytest.skip(f"tiktoken's gpt2 files are unavailable (set TIKTOKEN_CACHE_DIR): {exc}")


def test_gpt2_pieces_and_ids_are_tiktokens(gpt2):
    ids = gpt2.encode("The quasar hummed at the harbour.")
    assert [gpt2.decode([i]) for i in ids] == steps.QUASAR_PIECES
    assert gpt2.encode("The tide went out before the town was up") == steps.POEM_LINE_IDS


def test_the_harbour_tree_is_gpt2s_merge_order(gpt2):
    """Byte-level BPE on " harbour" with GPT-2's ranks: always merge the lowest-ranked pair."""
    ranks = gpt2._mergeable_ranks  # token bytes -> rank (= id for GPT-2)
    parts, merges = [bytes([b]) for b in b" harbour"], []
    while len(parts) > 1:
        pairs = [(ranks.get(parts[i] + parts[i + 1]), i) for i in range(len(parts) - 1)]
        rank, i = min(p for p in pairs if p[0] is not None)
        merges.append((parts[i] + parts[i + 1], rank, parts[i], parts[i + 1]))
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    expected = [(t.decode(), r, a.decode(), b.decode()) for t, r, a, b in merges]
    assert steps.HARBOUR_TREE == expected


def test_the_word_figures_match_notebook_01s_vocabulary():
    from llm101_helpers.data import load_poems
    from llm101_helpers.tokenizers import WordTokenizer

    tok = WordTokenizer.train(load_poems())
    words, ids = steps.TIDE_WORDS
    assert tok.tokenize("The tide went out.") == words and tok.encode("The tide went out.") == ids
    assert tok.vocab_size - len(tok.special_tokens) == steps.POEM_WORD_VOCAB
    line = "The quasar hummed at the harbour."
    assert [tok.id_to_token[i] for i in tok.encode(line)] == steps.QUASAR_WORDS


def test_pixels_compare_decoded_images_not_bytes():
    fig, _ = style.canvas(1, 1)
    png = style.render_png(fig)
    assert pixels(png).shape == (100, 100, 4)
    assert recorded_engine(png) == INSTALLED and INSTALLED.startswith("matplotlib ")
