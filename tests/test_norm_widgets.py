"""Tests for the plots and the histogram widget of notebook 08, without a browser."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from llm101_helpers import viz as nw  # noqa: E402
from llm101_helpers.viz import widgets as viz_widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _stacks(depth: int = 5):
    gen = torch.Generator().manual_seed(0)
    plain = [0.5**i * torch.randn(200, generator=gen) for i in range(depth)]  # shrinking
    norm = [torch.randn(200, generator=gen) for _ in range(depth)]
    return plain, norm


def test_plot_layer_stats_draws_one_line_per_network_in_each_panel():
    stats = {
        "plain": {"std": [1.0, 0.1, 0.01], "grad": torch.tensor([1e-4, 1e-2, 1.0])},
        "LayerNorm": {"std": [1.0, 1.0, 1.0], "grad": [0.5, 0.6, 0.7]},
    }
    fig = nw.plot_layer_stats(stats, {"std": "activation std"}, log=["std"])
    std_ax, grad_ax = fig.axes
    assert std_ax.get_title() == "activation std" and grad_ax.get_title() == "grad"
    assert std_ax.get_yscale() == "log" and grad_ax.get_yscale() == "linear"
    assert [line.get_label() for line in std_ax.lines] == ["plain", "LayerNorm"]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["plain", "LayerNorm"]
    np.testing.assert_allclose(std_ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(grad_ax.lines[0].get_ydata(), [1e-4, 1e-2, 1.0])
    np.testing.assert_allclose(grad_ax.lines[1].get_ydata(), [0.5, 0.6, 0.7])


def test_plot_layer_stats_grid_and_errors():
    stats = {"a": {k: [1.0, 2.0] for k in "wxyz"}}
    fig = nw.plot_layer_stats(stats, ncols=2)
    assert len(fig.axes) == 4 and all(ax.get_yscale() == "log" for ax in fig.axes)
    with pytest.raises(ValueError, match="same statistics"):
        nw.plot_layer_stats({"a": {"std": [1.0]}, "b": {"grad": [1.0]}})
    with pytest.raises(ValueError, match="empty"):
        nw.plot_layer_stats({})


def test_activation_histogram_counts_every_value_and_clips_to_the_axis():
    plain, norm = _stacks()
    plain[2] = torch.tensor([-100.0, -1.0, 0.0, 0.5, 2.0, 100.0])  # two values beyond ±4
    fig = nw.activation_histogram(plain, norm, layer=3, normalized=False, xlim=4.0, bins=8)
    (ax,) = fig.axes
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 8 and sum(heights) == 6  # nothing dropped
    assert heights[0] == 1 and heights[-1] == 1  # -100 and 100 land in the edge bins
    assert ax.get_xlim() == (-4.0, 4.0)
    assert "layer 3" in ax.get_title() and "without" in ax.get_title()
    assert "33.3% beyond ±4" in ax.get_title()  # 2 of 6 beyond the axis

    fig = nw.activation_histogram(plain, norm, layer=5, normalized=True, xlim=100.0)
    assert sum(p.get_height() for p in fig.axes[0].patches) == 200
    assert "layer 5, with LayerNorm" in fig.axes[0].get_title()
    assert "beyond" not in fig.axes[0].get_title()  # nothing outside: not mentioned


def test_activation_histogram_errors():
    plain, norm = _stacks()
    with pytest.raises(ValueError, match=r"layer must be in 1\.\.5, got 6"):
        nw.activation_histogram(plain, norm, layer=6, normalized=True)
    with pytest.raises(ValueError, match="5 layers without normalization, 4 with"):
        nw.activation_histogram(plain, norm[:4], layer=1, normalized=True)


def test_widget_redraws_for_the_slider_and_the_checkbox(monkeypatch):
    pytest.importorskip("ipywidgets")
    calls = []

    def record(acts_plain, acts_norm, layer, normalized, **kwargs):
        calls.append((layer, normalized, kwargs))
        return plt.figure()

    monkeypatch.setattr(viz_widgets, "activation_histogram", record)  # where the widget looks
    plain, norm = _stacks()
    box = nw.activation_histogram_widget(plain, norm, layer=2, normalized=False, bins=10)
    controls, image = box.children
    slider, checkbox = controls.children
    assert (slider.min, slider.max, slider.value) == (1, 5, 2)
    assert checkbox.value is False
    assert calls == [(2, False, {"bins": 10})]  # drawn once when created

    slider.value = 4
    checkbox.value = True
    assert calls[1:] == [(4, False, {"bins": 10}), (4, True, {"bins": 10})]
    assert bytes(image.value).startswith(b"\x89PNG")


def test_widget_draws_the_real_histogram_and_rejects_a_bad_layer():
    pytest.importorskip("ipywidgets")
    plain, norm = _stacks()
    box = nw.activation_histogram_widget(plain, norm, layer=5, normalized=True)
    controls, image = box.children
    first = bytes(image.value)
    assert first.startswith(b"\x89PNG")
    controls.children[0].value = 1  # through the real drawing function
    assert bytes(image.value).startswith(b"\x89PNG") and bytes(image.value) != first
    controls.children[1].value = False
    assert bytes(image.value).startswith(b"\x89PNG")
    assert plt.get_fignums() == []  # every drawn figure was closed after rendering
    with pytest.raises(ValueError, match="layer must be in"):
        nw.activation_histogram_widget(plain, norm, layer=0)
