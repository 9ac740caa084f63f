"""The attention widgets of llm101_helpers.viz, without a browser.

Each test builds the widget, sets control values as a learner would, and checks
that the redraw callback drew the expected data (the heatmap's pixel values,
the highlighted row and keys, the title).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from llm101_helpers.attention import MultiHeadAttention  # noqa: E402
from llm101_helpers.viz import (  # noqa: E402
    attention_explorer,
    attention_figure,
    causal_dropout_explorer,
    causal_dropout_figure,
    causal_dropout_weights,
)

TOKENS = ["Hi", "I", "Am", "Good"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image(fig) -> np.ndarray:
    return np.asarray(fig.axes[0].images[0].get_array())


def _weights(layers=2, heads=3, T=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(layers, heads, T, T, generator=g), dim=-1)


def test_attention_figure_draws_the_matrix_and_highlights_the_query():
    w = _weights()[0, 0]
    fig = attention_figure(w, TOKENS, query=2)
    np.testing.assert_allclose(_image(fig), w.numpy(), rtol=1e-6)
    ax = fig.axes[0]
    (rect,) = ax.patches
    assert rect.get_y() == pytest.approx(1.5) and rect.get_height() == 1
    top = torch.argsort(w[2], descending=True, stable=True)[:3].tolist()
    red = [i for i, t in enumerate(ax.get_xticklabels()) if t.get_color() == "red"]
    assert sorted(red) == sorted(top)
    assert ax.get_title().startswith("'Am' attends to " + repr(TOKENS[top[0]]))
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert len(attention_figure(w, TOKENS).axes[0].patches) == 0


def test_attention_figure_rejects_wrong_sizes():
    with pytest.raises(ValueError, match=r"\(4, 4\) matrix for 4 tokens, got \(3, 3\)"):
        attention_figure(torch.eye(3), TOKENS)
    with pytest.raises(ValueError, match=r"0\.\.3, got 4"):
        attention_figure(torch.eye(4), TOKENS, query=4)


def test_explorer_redraws_the_chosen_layer_head_and_query():
    w = _weights()
    box = attention_explorer(w, TOKENS)
    np.testing.assert_allclose(_image(box.state["figure"]), w[0, 0].numpy(), rtol=1e-6)
    c = box.controls
    assert (c["layer"].max, c["head"].max) == (1, 2)
    c["layer"].value = 1
    c["head"].value = 2
    c["query"].value = 3
    assert box.state["drawn"] == (1, 2, 3)
    fig = box.state["figure"]
    np.testing.assert_allclose(_image(fig), w[1, 2].numpy(), rtol=1e-6)
    assert fig.axes[0].get_title().startswith("layer 1, head 2\n'Good' attends to")
    assert fig.axes[0].patches[0].get_y() == pytest.approx(2.5)
    c["query"].value = -1  # "(none)"
    assert len(box.state["figure"].axes[0].patches) == 0
    assert len(plt.get_fignums()) == 1  # old figures are closed, not piled up


def test_explorer_accepts_a_module_and_its_inputs():
    torch.manual_seed(0)
    mha = MultiHeadAttention(6, 6, 8, 0.0, 3).eval()
    x = torch.randn(1, 4, 6)
    box = attention_explorer(mha, TOKENS, inputs=x)
    _, want = mha(x, return_weights=True)
    box.controls["head"].value = 2
    np.testing.assert_allclose(_image(box.state["figure"]), want[0, 2].detach().numpy(), rtol=1e-5)
    assert box.controls["layer"].disabled and not box.controls["head"].disabled
    with pytest.raises(ValueError, match=r"\(1, T, d_in\), got \(4, 6\)"):
        attention_explorer(mha, TOKENS, inputs=x[0])
    with pytest.raises(ValueError, match="4 tokens but 3 tokens"):
        attention_explorer(_weights(), TOKENS[:3])


def test_causal_dropout_weights_match_an_independent_computation():
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(5, 5, generator=g, dtype=torch.float64)
    w = causal_dropout_weights(scores, causal=True)
    for t in range(5):
        torch.testing.assert_close(w[t, : t + 1], torch.softmax(scores[t, : t + 1], -1))
        assert (w[t, t + 1 :] == 0).all()
    torch.testing.assert_close(causal_dropout_weights(scores, causal=False), scores.softmax(-1))
    dropped = causal_dropout_weights(scores, causal=True, dropout=0.4, seed=3)
    kept = dropped != 0
    torch.testing.assert_close(dropped[kept], w[kept] / 0.6)
    torch.testing.assert_close(dropped, causal_dropout_weights(scores, True, 0.4, seed=3))
    assert not torch.equal(dropped, causal_dropout_weights(scores, True, 0.4, seed=4))
    with pytest.raises(ValueError, match=r"\[0, 1\), got 1\.0"):
        causal_dropout_weights(scores, dropout=1.0)


def test_causal_dropout_explorer_toggles_mask_rate_and_resamples():
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 4, generator=g)
    box = causal_dropout_explorer(scores, TOKENS, causal=True, dropout=0.0)
    c = box.controls
    first = _image(box.state["figure"])
    np.testing.assert_allclose(first, causal_dropout_weights(scores, True).numpy(), rtol=1e-6)
    assert (np.triu(first, 1) == 0).all()
    c["causal"].value = False
    np.testing.assert_allclose(
        _image(box.state["figure"]), torch.softmax(scores.double(), -1).numpy(), rtol=1e-6
    )
    c["causal"].value = True
    c["dropout"].value = 0.4
    before = _image(box.state["figure"]).copy()
    seed = c["seed"].value
    c["resample"].click()
    assert c["seed"].value == seed + 1
    after = _image(box.state["figure"])
    np.testing.assert_allclose(after, causal_dropout_weights(scores, True, 0.4, seed + 1).numpy())
    assert not np.array_equal(before, after)
    texts = [t.get_text() for t in box.state["figure"].axes[0].texts]
    assert len(texts) == 16 and "dropout 0.40 (seed 1)" in box.state["figure"].axes[0].get_title()


def test_static_figure_equals_what_the_explorer_draws():
    g = torch.Generator().manual_seed(5)
    scores = torch.randn(4, 4, generator=g)
    box = causal_dropout_explorer(scores, TOKENS, dropout=0.3, seed=7)
    static = causal_dropout_figure(scores, TOKENS, True, 0.3, 7)
    np.testing.assert_array_equal(_image(box.state["figure"]), _image(static))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": -1}, r"layer must be in 0\.\.1, got -1"),
        ({"layer": 2}, r"layer must be in 0\.\.1, got 2"),
        ({"head": -1}, r"head must be in 0\.\.2, got -1"),
        ({"query": -1}, r"query must be in 0\.\.3, got -1"),
        ({"query": 4}, r"query must be in 0\.\.3, got 4"),
    ],
)
def test_explorer_start_values_outside_the_controls_are_errors(kwargs, message):
    # a slider would silently clamp -1 to 0, and query=-1 would quietly mean "no query"
    with pytest.raises(ValueError, match=message):
        attention_explorer(_weights(), TOKENS, **kwargs)


def test_dropout_explorer_start_values_and_scores_are_checked():
    scores = torch.zeros(4, 4)
    with pytest.raises(ValueError, match=r"seed must be in 0\.\.1000, got -1"):
        causal_dropout_explorer(scores, TOKENS, seed=-1)
    with pytest.raises(ValueError, match=r"dropout must be in 0\.0\.\.0\.9, got 0\.95"):
        causal_dropout_explorer(scores, TOKENS, dropout=0.95)
    with pytest.raises(ValueError, match=r"square \(T, T\) matrix, got \(3, 4\)"):
        causal_dropout_weights(torch.zeros(3, 4))


def test_the_causal_mask_is_the_attention_modules_mask():
    from llm101_helpers.attention import causal_mask

    w = causal_dropout_weights(torch.zeros(6, 6), causal=True)
    assert torch.equal(w == 0, causal_mask(6))  # zero exactly where the mask hides the future


def test_figure_widgets_redraw_into_their_output_area():
    box = attention_explorer(_weights(), TOKENS)
    controls, out = box.children
    assert list(controls.children) == list(box.controls.values())
    assert type(out).__name__ == "Output"
    box = causal_dropout_explorer(torch.zeros(4, 4), TOKENS)
    assert type(box.children[-1]).__name__ == "Output"
    assert [w.description for w in box.children[0].children] == ["causal mask", "dropout"]
    assert [w.description for w in box.children[1].children] == ["seed", "resample"]
