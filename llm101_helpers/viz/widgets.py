"""The notebooks' interactive widgets, all built one way.

Each widget is a ``VBox`` of controls and one output area, and a ``redraw``
function that fills the output area from the controls' values:
:func:`_redraw_on_change` calls it once and again whenever a control's value
changes (``observe``). The output area is an ``HTML`` (text), an ``Image``
(a PNG) or an ``Output`` holding a matplotlib figure (:func:`_figure_output`).
Only ``IntSlider``, ``FloatSlider``, ``Dropdown``, ``Checkbox``, ``Text``,
``IntText``, ``Button``, ``HTML``, ``Image``, ``Output``, ``HBox``/``VBox``
and ``observe`` are used, which behave the same in ipywidgets 7.7 and 8.x
(JupyterLab 4, classic Notebook, Colab).

Every returned box has ``box.controls`` (name -> control widget); the figure
widgets also keep the figure drawn last in ``box.state["figure"]``, so tests
and curious learners can check what was drawn. For a static picture, call
the drawing function directly (:mod:`llm101_helpers.viz.figures`,
:mod:`~llm101_helpers.viz.attention`, :mod:`~llm101_helpers.viz.layer_stats`).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Mapping, Sequence

import torch

from llm101_helpers.generation import write_text
from llm101_helpers.viz.attention import attention_figure, attention_grid, causal_dropout_figure
from llm101_helpers.viz.bpe import bpe_pieces_at, check_merge_count, describe_merge, pieces_html
from llm101_helpers.viz.figures import ArrayLike
from llm101_helpers.viz.layer_stats import activation_histogram, check_layer

__all__ = [
    "activation_histogram_widget",
    "attention_explorer",
    "bpe_merge_stepper",
    "causal_dropout_explorer",
    "poet_widget",
    "poets_html",
    "poets_widget",
]

#: The largest seed the dropout explorer's slider offers.
MAX_SEED = 1000


def _redraw_on_change(controls: Mapping[str, object], redraw: Callable[..., None]) -> None:
    """Call ``redraw(**values)`` now and again whenever one of ``controls`` changes value."""

    def update(change=None) -> None:
        redraw(**{name: control.value for name, control in controls.items()})

    for control in controls.values():
        control.observe(update, names="value")
    update()


def _figure_output(draw: Callable[..., object]):
    """An ``Output`` area, its ``state`` and a ``redraw(**values)`` showing ``draw(**values)``.

    ``redraw`` closes the previous figure and keeps the new one in
    ``state["figure"]`` (its values in ``state["drawn"]``); with the inline
    backend the figure is shown in the area, as ``interactive_output`` does.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from ipywidgets.widgets.interaction import show_inline_matplotlib_plots

    out = widgets.Output()
    state: dict = {"figure": None}

    def redraw(**values) -> None:
        show_inline_matplotlib_plots()  # figures drawn before belong to the cell, not here
        with out:
            out.clear_output(wait=True)
            if state["figure"] is not None:
                plt.close(state["figure"])
            state["figure"] = draw(**values)
            state["drawn"] = tuple(values.values())
            show_inline_matplotlib_plots()

    return out, state, redraw


def _check_range(name: str, value: int | float, low: int | float, high: int | float) -> None:
    """A start value the control cannot show is an error, not silently clamped or wrapped."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


def bpe_merge_stepper(tokenizer, text: str, step: int = 0):
    """A slider over the merge number that shows how ``text`` splits after that many merges.

    Returns a ``VBox`` (the slider, a line describing the latest merge and the
    token count, and the coloured pieces), also as ``box.slider``,
    ``box.info`` and ``box.view``. For a static picture, print
    ``format_pieces(bpe_pieces_at(...))``.
    """
    import ipywidgets as widgets

    check_merge_count(tokenizer, step, "step")
    n_bytes = len(text.encode("utf-8"))
    slider = widgets.IntSlider(
        value=step,
        min=0,
        max=len(tokenizer.merges),
        description="merges",
        continuous_update=True,
        layout=widgets.Layout(width="95%"),
    )
    info, view = widgets.HTML(), widgets.HTML()
    cache: dict[int, list[bytes]] = {}

    def redraw(merges: int) -> None:
        if merges not in cache:
            cache[merges] = bpe_pieces_at(tokenizer, text, merges)
        pieces = cache[merges]
        info.value = (
            f"<b>{html.escape(describe_merge(tokenizer, merges))}</b><br>"
            f"{len(pieces)} tokens for {n_bytes} bytes "
            f"({n_bytes / max(len(pieces), 1):.2f} bytes per token)"
        )
        view.value = pieces_html(pieces)

    box = widgets.VBox([slider, info, view])
    box.controls = {"merges": slider}
    box.slider, box.info, box.view = slider, info, view
    _redraw_on_change(box.controls, redraw)
    return box


def attention_explorer(
    weights,
    tokens: Sequence[str],
    inputs: torch.Tensor | None = None,
    layer: int = 0,
    head: int = 0,
    query: int | None = None,
):
    """Pick a layer, a head and a query token; see where that query looks.

    ``weights``: attention weights ``(T, T)``, ``(heads, T, T)``,
    ``(layers, heads, T, T)`` or a list of per-layer tensors, or an attention
    module, called as ``module(inputs, return_weights=True)`` on a batch of one
    sequence. Returns a ``VBox`` of controls and the plot, drawn by
    :func:`~llm101_helpers.viz.attention.attention_figure`.
    """
    import ipywidgets as widgets

    if isinstance(weights, torch.nn.Module):
        if inputs is None or inputs.dim() != 3 or inputs.shape[0] != 1:
            shape = None if inputs is None else tuple(inputs.shape)
            raise ValueError(f"a module needs inputs of shape (1, T, d_in), got {shape}")
        with torch.no_grad():
            _, weights = weights(inputs, return_weights=True)
        weights = weights[0]  # (heads, T, T) or (T, T)
    grid = attention_grid(weights)  # (L, H, T, T)
    num_layers, num_heads, T, _ = grid.shape
    if T != len(tokens):
        raise ValueError(f"weights are for {T} tokens but {len(tokens)} tokens were given")
    _check_range("layer", layer, 0, num_layers - 1)
    _check_range("head", head, 0, num_heads - 1)
    if query is not None:
        _check_range("query", query, 0, T - 1)

    controls = {
        "layer": widgets.IntSlider(value=layer, min=0, max=num_layers - 1, description="layer"),
        "head": widgets.IntSlider(value=head, min=0, max=num_heads - 1, description="head"),
        "query": widgets.Dropdown(
            options=[("(none)", -1)] + [(f"{i}: {t}", i) for i, t in enumerate(tokens)],
            value=-1 if query is None else query,
            description="query",
        ),
    }
    controls["layer"].disabled = num_layers == 1
    controls["head"].disabled = num_heads == 1

    def draw(layer: int, head: int, query: int):
        title = f"layer {layer}, head {head}" if num_layers > 1 or num_heads > 1 else None
        return attention_figure(grid[layer, head], tokens, None if query < 0 else query, title)

    out, state, redraw = _figure_output(draw)
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    box.controls, box.state = controls, state
    _redraw_on_change(controls, redraw)
    return box


def causal_dropout_explorer(
    scores: ArrayLike,
    tokens: Sequence[str],
    causal: bool = True,
    dropout: float = 0.4,
    seed: int = 0,
):
    """Toggle the causal mask, move the dropout rate, resample the dropout mask.

    Returns a ``VBox``; the drawing is
    :func:`~llm101_helpers.viz.attention.causal_dropout_figure`. "resample"
    increases the seed by one, so every picture can be reproduced.
    """
    import ipywidgets as widgets

    _check_range("dropout", dropout, 0.0, 0.9)
    _check_range("seed", seed, 0, MAX_SEED)
    controls = {
        "causal": widgets.Checkbox(value=causal, description="causal mask"),
        "dropout": widgets.FloatSlider(
            value=dropout, min=0.0, max=0.9, step=0.05, description="dropout"
        ),
        "seed": widgets.IntSlider(value=seed, min=0, max=MAX_SEED, description="seed"),
    }
    resample = widgets.Button(description="resample")
    seed_w = controls["seed"]
    resample.on_click(lambda _: setattr(seed_w, "value", (seed_w.value + 1) % (MAX_SEED + 1)))

    def draw(causal: bool, dropout: float, seed: int):
        return causal_dropout_figure(scores, tokens, causal, dropout, seed)

    out, state, redraw = _figure_output(draw)
    top = widgets.HBox([controls["causal"], controls["dropout"]])
    box = widgets.VBox([top, widgets.HBox([seed_w, resample]), out])
    box.controls, box.state = {**controls, "resample": resample}, state
    _redraw_on_change(controls, redraw)
    return box


def activation_histogram_widget(
    acts_plain: Sequence[torch.Tensor],
    acts_norm: Sequence[torch.Tensor],
    layer: int = 1,
    normalized: bool = False,
    **hist_kwargs,
):
    """A layer slider and a normalization checkbox over ``activation_histogram``.

    Returns a ``VBox``: ``children[0]`` is an ``HBox`` holding the ``IntSlider``
    and the ``Checkbox``, ``children[1]`` an ``Image`` showing the histogram
    (PNG) for the current values, redrawn whenever either changes.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    check_layer(acts_plain, acts_norm, layer)
    controls = {
        "layer": widgets.IntSlider(
            value=layer, min=1, max=len(acts_plain), description="layer", continuous_update=False
        ),
        "normalized": widgets.Checkbox(value=normalized, description="LayerNorm"),
    }
    image = widgets.Image(format="png")

    def redraw(layer: int, normalized: bool) -> None:
        fig = activation_histogram(acts_plain, acts_norm, layer, normalized, **hist_kwargs)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)  # shown through the Image widget, not by the inline backend
        image.value = buffer.getvalue()

    box = widgets.VBox([widgets.HBox(list(controls.values())), image])
    box.controls = controls
    _redraw_on_change(controls, redraw)
    return box


def _writing_controls(prompt: str, vocab_size: int, defaults: Mapping[str, object]) -> dict:
    """The controls of ``write_text``: prompt, temperature, top-k, length, seed (checked)."""
    import ipywidgets as widgets

    start = {"temperature": 0.8, "top_k": 40, "length": 80, "seed": 0, **defaults}
    unknown = set(start) - {"temperature", "top_k", "length", "seed"}
    if unknown:
        names = "temperature, top_k, length, seed"
        raise TypeError(f"unknown setting(s) {sorted(unknown)}: use {names}")
    _check_range("temperature", start["temperature"], 0.1, 2.0)
    _check_range("length", start["length"], 10, 300)
    if start["top_k"] < 0:  # above the vocabulary is lowered to it, as write_text does
        raise ValueError(f"top_k must be 0 (no limit) or positive, got {start['top_k']}")
    return {
        "prompt": widgets.Text(value=prompt, description="prompt"),
        "temperature": widgets.FloatSlider(
            value=start["temperature"], min=0.1, max=2.0, step=0.1, description="temperature"
        ),
        "top_k": widgets.IntSlider(
            value=min(start["top_k"], vocab_size), min=0, max=vocab_size, description="top-k"
        ),
        "length": widgets.IntSlider(
            value=start["length"], min=10, max=300, step=10, description="tokens"
        ),
        "seed": widgets.IntText(value=start["seed"], description="seed"),
    }


def poet_widget(model, tokenizer, prompt: str = "The tide", **defaults):
    """Controls for ``write_text`` and the text they produce, redrawn on every change.

    Returns a ``VBox``: a ``Text`` prompt, ``FloatSlider`` temperature,
    ``IntSlider`` top-k (0 = no limit) and length, an ``IntText`` seed, then an
    ``HTML`` holding the sample in a ``<pre>`` block (escaped). ``defaults``
    sets the starting temperature, top_k, length or seed
    (see :func:`llm101_helpers.generation.write_text`).
    """
    import ipywidgets as widgets

    controls = _writing_controls(prompt, model.config.vocab_size, defaults)
    poem = widgets.HTML()

    def redraw(**settings) -> None:
        text = write_text(model, tokenizer, **settings)
        poem.value = f"<pre style='font-size: 12px'>{html.escape(text)}</pre>"

    box = widgets.VBox([*controls.values(), poem])
    box.controls = controls
    _redraw_on_change(controls, redraw)
    return box


def poets_html(samples: Mapping[str, str]) -> str:
    """Texts side by side: an HTML table, one column per name, each text escaped in ``<pre>``."""
    if not samples:
        raise ValueError("poets_html needs at least one sample")
    head = "".join(f"<th style='text-align: left'>{html.escape(name)}</th>" for name in samples)
    cells = "".join(
        f"<td style='vertical-align: top'><pre style='font-size: 12px; white-space: pre-wrap'>"
        f"{html.escape(text)}</pre></td>"
        for text in samples.values()
    )
    return f"<table><tr>{head}</tr><tr>{cells}</tr></table>"


def poets_widget(poets: Mapping[str, tuple], prompt: str = "The tide", **defaults):
    """Several models writing from the same prompt and settings, side by side.

    ``poets`` maps a name to ``(model, tokenizer)``; each model samples with its own
    tokenizer and the same seed. Returns a ``VBox`` of the controls of
    :func:`poet_widget` and an ``HTML`` table (:func:`poets_html`) with one column per
    model, redrawn on every change.
    """
    import ipywidgets as widgets

    if not poets:
        raise ValueError("poets_widget needs at least one (model, tokenizer)")
    vocab_size = max(model.config.vocab_size for model, _ in poets.values())
    controls = _writing_controls(prompt, vocab_size, defaults)
    table = widgets.HTML()

    def redraw(**settings) -> None:
        texts = {name: write_text(m, tok, **settings) for name, (m, tok) in poets.items()}
        table.value = poets_html(texts)

    box = widgets.VBox([*controls.values(), table])
    box.controls = controls
    _redraw_on_change(controls, redraw)
    return box
