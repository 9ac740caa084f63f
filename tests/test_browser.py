"""The notebooks in a real JupyterLab, driven through its UI by headless Chromium.

nbval proves a notebook executes and its outputs do not regress, but it never
draws a widget: a widget that throws in the browser, renders blank or does not
redraw passes nbval. These tests start JupyterLab from this environment on
127.0.0.1 (no token, a temporary root folder holding copies of the notebooks,
temporary configuration, no network), open a notebook in Debian's Chromium
through Playwright, run all cells from the *Run* menu, and then use the
widgets the way a learner does, checking that what is drawn changes.

Screenshots of each state (and of any failure) go to ``test-artifacts/browser/``.

Needs ``/usr/bin/chromium`` (Debian: ``apt-get install -y chromium``; never
``playwright install``, which downloads a browser) and the ``playwright``
package (in the ``dev`` extra). Without them these tests are skipped with a
message; ``.ci/run`` installs Chromium so CI always runs them. Select them with
``pytest -m browser``, leave them out with ``-m "not browser"``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("LLM101_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_S = 90
RUN_ALL_S = 240  # whole notebook through the UI; nbval's budget is 120 s per notebook on 2 cores
UI_S = 30_000  # ms, for single UI steps
# the notebook on screen (JupyterLab keeps other open notebooks in the DOM, hidden)
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

if not CHROMIUM.exists():
    pytest.skip(
        f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
        "or point LLM101_CHROMIUM at a Chromium binary to run the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason='Playwright is missing: pip install -e ".[dev]"'
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    root: Path
    log: Path


def _stop(proc: subprocess.Popen) -> None:
    """Stop JupyterLab and everything it started (kernels), whatever state it is in."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
    try:  # kernels live in the server's process group; make sure none is left
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        # copies without outputs, so every prompt number seen later comes from this run
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, root / path.name)
    # notebook 10 loads the shipped checkpoint from checkpoints/, next to the notebooks
    shutil.copytree(ROOT / "notebooks" / "checkpoints", root / "checkpoints")
    config = tmp / "config"
    # no "news" pop-up asking to fetch announcements from the internet
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        LLM101_DEVICE="cpu",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    port = _free_port()
    log = tmp / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
    ]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    tail = log.read_text()[-3000:]
                    pytest.fail(f"JupyterLab did not answer in {SERVER_START_S} s:\n{tail}")
                time.sleep(0.5)
        yield Lab(f"http://127.0.0.1:{port}", root, log)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser_context(lab, tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, request):
    page = browser_context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    page.console_errors = console_errors
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        _screenshot(page, f"{request.node.name}-FAILED")
    page.close()


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


_ALL_CELLS_RAN = """() => {
    const indicator = document.querySelector('PANEL .jp-Notebook-ExecutionIndicator');
    const prompts = [...document.querySelectorAll('PANEL .jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim());
    return indicator !== null && indicator.dataset.status === 'idle'
        && prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
}""".replace("PANEL", PANEL)

_ANY_CELL_RAN = """() => [...document.querySelectorAll(
        'PANEL .jp-CodeCell .jp-InputPrompt')]
    .some(e => /\\[(\\d+|\\*)\\]/.test(e.textContent))""".replace("PANEL", PANEL)


def _accept_kernel_dialog(page, wait_ms: int = 5_000) -> None:
    """Answer JupyterLab's "Select Kernel" dialog with the notebook's own kernel, if it appears."""
    dialog = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
    try:
        dialog.wait_for(state="visible", timeout=wait_ms)
    except sync_api.TimeoutError:
        return
    dialog.locator("button.jp-mod-accept").click()
    dialog.wait_for(state="hidden", timeout=UI_S)


def open_and_run_all(page, lab: Lab, notebook: str) -> nbformat.NotebookNode:
    """Open ``notebook``, run all cells from the Run menu, wait for the kernel to go idle,
    save, and return the saved notebook (as JupyterLab wrote it)."""
    # a workspace of its own, reset, so no tab from an earlier test is restored next to it
    workspace = Path(notebook).stem.replace("_", "-")
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{notebook}?reset")
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=60_000)
    _accept_kernel_dialog(page)
    page.wait_for_selector(
        f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
    )
    for _attempt in range(3):  # a click that lands while the UI is still settling is lost
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.locator("li[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(_ANY_CELL_RAN, timeout=15_000)
            break
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
            _accept_kernel_dialog(page, wait_ms=1_000)
    else:
        pytest.fail("Run > Run All Cells did not start the notebook")
    page.wait_for_function(_ALL_CELLS_RAN, timeout=RUN_ALL_S * 1000)
    page.keyboard.press("Control+s")
    saved_path = lab.root / notebook
    deadline = time.monotonic() + 30
    while True:  # wait until the saved file holds the run's outputs
        nb = nbformat.read(saved_path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if code and all(c.execution_count for c in code):
            return nb
        if time.monotonic() > deadline:
            pytest.fail("JupyterLab did not save the executed notebook")
        time.sleep(0.5)


def assert_no_unexpected_errors(nb: nbformat.NotebookNode, page) -> None:
    """Only cells tagged ``raises-exception`` may hold an error; the page itself must not throw."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "raises-exception" in cell.metadata.get("tags", []):
            continue
        for out in cell.outputs:
            assert out.output_type != "error", (
                f"cell {i} raised {out.ename}: {out.evalue}\n{cell.source[:300]}"
            )
    assert not page.console_errors, f"the page threw: {page.console_errors}"


def set_slider(slider, value: int) -> None:
    """Type a value into an IntSlider's readout, as a learner can (same in ipywidgets 7 and 8)."""
    readout = slider.locator(".widget-readout")
    readout.click()
    readout.press("Control+a")
    readout.type(str(value))
    readout.press("Enter")


# ---------------------------------------------------------------------------
# Notebook 02: the BPE merge stepper
# ---------------------------------------------------------------------------


def test_02_merge_stepper_redraws_when_the_slider_moves(page, lab):
    nb = open_and_run_all(page, lab, "02_byte_pair_encoding.ipynb")
    assert_no_unexpected_errors(nb, page)

    stepper = page.locator(f"{PANEL} .widget-vbox").filter(has=page.locator(".widget-hslider"))
    sync_api.expect(stepper).to_have_count(1, timeout=UI_S)  # widget views render after the run
    stepper.scroll_into_view_if_needed()
    slider = stepper.locator(".widget-hslider")
    info = stepper.locator(".widget-html").nth(0)
    view = stepper.locator(".widget-html").nth(1)
    sync_api.expect(slider.locator(".widget-readout")).to_have_text("20")
    sync_api.expect(info).to_contain_text("merge 20:")
    before_info, before_view = info.inner_text(), view.inner_html()
    assert before_view.count("<span") == 29  # the static rendering below says 29 tokens at 20
    _screenshot(page, "02-merge-stepper-before")

    set_slider(slider, 300)
    sync_api.expect(slider.locator(".widget-readout")).to_have_text("300", timeout=UI_S)
    sync_api.expect(info).to_contain_text("merge 300:", timeout=UI_S)
    assert info.inner_text() != before_info
    assert view.inner_html() != before_view
    assert view.inner_html().count("<span") == 15  # as the static rendering says for 300 merges
    _screenshot(page, "02-merge-stepper-after")


# ---------------------------------------------------------------------------
# Notebooks 06 and 07: the attention explorers
# ---------------------------------------------------------------------------


def _explorer(page, has_text: str, holding: str = ".widget-output"):
    """The (single) widget box with a control labelled ``has_text`` that holds ``holding``."""
    box = (
        page.locator(f"{PANEL} .jp-OutputArea-output .widget-vbox")
        .filter(has=page.locator(".widget-label", has_text=has_text))
        .filter(has=page.locator(holding))
    )
    sync_api.expect(box).to_have_count(1, timeout=UI_S)
    box.scroll_into_view_if_needed()
    return box


def _image_src(box) -> str:
    image = box.locator(".widget-output img").first
    sync_api.expect(image).to_be_visible(timeout=UI_S)
    return image.get_attribute("src")


def _wait_for_new_image(box, old_src: str) -> str:
    box.page.wait_for_function(
        "([el, old]) => { const img = el.querySelector('.widget-output img');"
        " return img !== null && img.getAttribute('src') !== old; }",
        arg=[box.element_handle(), old_src],
        timeout=UI_S,
    )
    return _image_src(box)


def _control(box, label: str):
    return (
        box.locator(".widget-inline-hbox, .widget-hslider, .widget-dropdown, .widget-checkbox")
        .filter(has=box.page.locator(".widget-label", has_text=label))
        .first
    )


def test_07_attention_explorer_redraws_for_a_new_head_and_query(page, lab):
    nb = open_and_run_all(page, lab, "07_multi_head_attention.ipynb")
    assert_no_unexpected_errors(nb, page)
    box = _explorer(page, "head")
    first = _image_src(box)
    _screenshot(page, "07-explorer-before")

    head = _control(box, "head")
    set_slider(head, 1)
    sync_api.expect(head.locator(".widget-readout")).to_have_text("1", timeout=UI_S)
    second = _wait_for_new_image(box, first)

    query = _control(box, "query").locator("select")
    options = query.locator("option").all_inner_texts()
    assert len(options) > 2, options
    query.select_option(label=options[2])
    sync_api.expect(query).to_have_value(query.locator("option").nth(2).get_attribute("value"))
    _wait_for_new_image(box, second)
    _screenshot(page, "07-explorer-after")


def test_06_causal_dropout_explorer_redraws_for_mask_and_rate(page, lab):
    nb = open_and_run_all(page, lab, "06_causal_attention.ipynb")
    assert_no_unexpected_errors(nb, page)
    box = _explorer(page, "dropout")
    first = _image_src(box)
    _screenshot(page, "06-explorer-before")

    box.locator(".widget-checkbox input[type=checkbox]").first.click()  # mask off
    second = _wait_for_new_image(box, first)

    rate = _control(box, "dropout")
    set_slider(rate, 0.1)
    sync_api.expect(rate.locator(".widget-readout")).to_have_text("0.10", timeout=UI_S)
    _wait_for_new_image(box, second)
    _screenshot(page, "06-explorer-after")


# ---------------------------------------------------------------------------
# Notebook 08: the activation histogram; notebook 10: the poet
# ---------------------------------------------------------------------------


def test_08_activation_histogram_redraws_for_layer_and_layernorm(page, lab):
    nb = open_and_run_all(page, lab, "08_layer_normalization.ipynb")
    assert_no_unexpected_errors(nb, page)
    box = _explorer(page, "layer", holding="img")
    image = box.locator("img").first
    sync_api.expect(image).to_be_visible(timeout=UI_S)
    first = image.get_attribute("src")
    _screenshot(page, "08-histogram-before")

    slider = _control(box, "layer")
    sync_api.expect(slider.locator(".widget-readout")).to_have_text("15")
    set_slider(slider, 2)
    sync_api.expect(slider.locator(".widget-readout")).to_have_text("2", timeout=UI_S)
    sync_api.expect(image).not_to_have_attribute("src", first, timeout=UI_S)
    second = image.get_attribute("src")

    box.locator(".widget-checkbox input[type=checkbox]").first.click()  # LayerNorm on
    sync_api.expect(image).not_to_have_attribute("src", second, timeout=UI_S)
    _screenshot(page, "08-histogram-after")


def test_10_poet_writes_what_the_kernel_wrote_and_rewrites_on_change(page, lab):
    nb = open_and_run_all(page, lab, "10_training_a_tiny_poet.ipynb")
    assert_no_unexpected_errors(nb, page)
    # the cell after the widget prints write("The tide", 0.8, 40, 80, seed=0): the widget's defaults
    widget_cell = next(i for i, c in enumerate(nb.cells) if "poet_widget(" in c.source)
    sample = "".join(o.get("text", "") for o in nb.cells[widget_cell + 1].outputs).rstrip("\n")
    assert sample.startswith("The tide")

    box = _explorer(page, "temperature", holding=".widget-html pre")
    poem = box.locator(".widget-html pre")
    sync_api.expect(poem).to_have_text(sample, timeout=UI_S)  # same text in the browser
    _screenshot(page, "10-poet-before")

    seed = _control(box, "seed").locator("input")
    seed.fill("5")
    seed.press("Enter")
    sync_api.expect(poem).not_to_have_text(sample, timeout=UI_S)
    sync_api.expect(poem).to_contain_text("The tide")

    prompt = _control(box, "prompt").locator("input")
    prompt.fill("The moon")
    prompt.press("Enter")
    sync_api.expect(poem).to_have_text(re.compile(r"^The moon"), timeout=UI_S)
    poem.scroll_into_view_if_needed()
    _screenshot(page, "10-poet-after")


# ---------------------------------------------------------------------------
# Every lesson: the diagrams in markdown cells and the images in outputs load
# ---------------------------------------------------------------------------

_IMAGES = """() => [...document.querySelectorAll(
        'PANEL .jp-MarkdownCell .jp-RenderedMarkdown img, PANEL .jp-OutputArea-output img')]
    .map(img => ({markdown: img.closest('.jp-MarkdownCell') !== null, alt: img.alt,
                  src: (img.getAttribute('src') || '').slice(0, 30),
                  loaded: img.complete && img.naturalWidth > 0 && img.naturalHeight > 0}))
""".replace("PANEL", PANEL)

_ALL_IMAGES_LOADED = """(expected) => {
    const imgs = [...document.querySelectorAll(
        'PANEL .jp-MarkdownCell .jp-RenderedMarkdown img, PANEL .jp-OutputArea-output img')];
    const markdown = imgs.filter(img => img.closest('.jp-MarkdownCell') !== null);
    imgs.forEach(img => { if (!(img.complete && img.naturalWidth > 0)) img.scrollIntoView(); });
    return markdown.length >= expected
        && imgs.every(img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0);
}""".replace("PANEL", PANEL)


def _expected_images(nb: nbformat.NotebookNode) -> tuple[int, int]:
    """(markdown images, plain image outputs) of a stored notebook."""
    markdown = sum(c.source.count("](attachment:") for c in nb.cells if c.cell_type == "markdown")
    outputs = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {}) and len(set(o["data"]) - {"text/plain"}) == 1
    )
    return markdown, outputs


def _shut_down_kernels(page, lab: Lab) -> None:
    """Delete every session (and its kernel) the opened notebooks started.

    The server refuses a DELETE without the page's XSRF token (cookie and header), as it would
    refuse one from another site, so the request carries the token the lab page was given.
    """
    xsrf = next((c["value"] for c in page.context.cookies() if c["name"] == "_xsrf"), "")
    headers = {"X-XSRFToken": xsrf, "Cookie": f"_xsrf={xsrf}"} if xsrf else {}
    with urllib.request.urlopen(f"{lab.url}/api/sessions", timeout=10) as answer:
        sessions = json.load(answer)
    for session in sessions:
        url = f"{lab.url}/api/sessions/{session['id']}"
        request = urllib.request.Request(url, method="DELETE", headers=headers)
        urllib.request.urlopen(request, timeout=10).close()


def test_every_lesson_shows_its_diagrams_and_output_images(page, lab):
    """Open each lesson as stored (outputs included, nothing run): every image in a markdown
    cell (the diagrams, carried as cell attachments) and in an output has loaded."""
    stored = lab.root / "stored"
    stored.mkdir(exist_ok=True)
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in lessons:
        shutil.copy(path, stored / path.name)
    for path in lessons:
        nb = nbformat.read(path, as_version=4)
        markdown, outputs = _expected_images(nb)
        workspace = "stored-" + path.stem.replace("_", "-")
        page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/stored/{path.name}?reset")
        page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=60_000)
        _accept_kernel_dialog(page, wait_ms=2_000)
        try:
            page.wait_for_function(_ALL_IMAGES_LOADED, arg=markdown, timeout=UI_S)
        except sync_api.TimeoutError:
            pass  # reported below, image by image
        images = page.evaluate(_IMAGES)
        shown = [i for i in images if i["markdown"]]
        assert len(shown) == markdown, f"{path.name}: {len(shown)} of {markdown} diagrams shown"
        assert len(images) - len(shown) >= outputs, (
            f"{path.name}: {len(images) - len(shown)} output images, the file holds {outputs}"
        )
        broken = [i for i in images if not i["loaded"]]
        assert broken == [], f"{path.name}: images that did not load: {broken}"
        assert all(i["alt"] for i in shown), f"{path.name}: a diagram without alt text"
        if shown:  # the screenshot shows the course map
            page.locator(f"{PANEL} .jp-RenderedMarkdown img").first.scroll_into_view_if_needed()
        _screenshot(page, f"diagrams-{path.stem}")
        _shut_down_kernels(page, lab)
