"""The static plotting helpers of llm101_helpers.viz: heatmaps and labelled scatter plots.

Each test draws without a screen and reads back what matplotlib holds: the
image arrays, tick labels, colour limits and text annotations.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from llm101_helpers.viz import scatter_with_labels, show_heatmaps, similarity_heatmap  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def images(fig):
    """The arrays drawn by ``imshow``, panel by panel (colour bars excluded)."""
    return [ax.images[0] for ax in fig.axes if ax.images]


def ticks(labels):
    return [t.get_text() for t in labels]


@pytest.mark.parametrize(
    ("shape", "panels"),
    [((3, 5), 1), ((4, 3, 5), 4), ((2, 3, 3, 5), 6)],
)
def test_every_matrix_becomes_one_panel(shape, panels):
    weights = torch.arange(np.prod(shape), dtype=torch.float32).reshape(shape)
    fig = show_heatmaps(weights)
    drawn = images(fig)
    assert len(drawn) == panels
    flat = weights.reshape(-1, 3, 5)
    for image, matrix in zip(drawn, flat, strict=True):
        np.testing.assert_array_equal(image.get_array(), matrix.numpy())
        # one colour scale for all panels: the global minimum and maximum
        assert image.get_clim() == (0.0, float(weights.max()))
    assert len(fig.axes) == panels + 1  # the panels and one colour bar


def test_grid_layout_is_layers_by_heads():
    weights = np.zeros((2, 3, 4, 4))
    weights[1, 2] = 1.0  # layer 1, head 2
    titles = [f"L{layer} H{head}" for layer in range(2) for head in range(3)]
    fig = show_heatmaps(weights, titles=titles, colorbar=False)
    axes = fig.axes
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes] == titles
    marked = [i for i, ax in enumerate(axes) if ax.images[0].get_array().max() == 1.0]
    assert marked == [5]
    # rows of the grid are layers: the last panel is in the second row, third column
    spec = axes[5].get_subplotspec()
    assert (spec.rowspan.start, spec.colspan.start) == (1, 2)


def test_labels_name_rows_and_columns():
    weights = torch.rand(2, 3, 4)  # two panels of 3 queries x 4 keys
    fig = show_heatmaps(
        weights, row_labels=["a", "b", "c"], col_labels=["w", "x", "y", "z"], xlabel="key"
    )
    left, right = fig.axes[:2]
    assert ticks(left.get_yticklabels()) == ["a", "b", "c"]  # panels share the row labels
    for ax in (left, right):
        assert ticks(ax.get_xticklabels()) == ["w", "x", "y", "z"]
        assert ax.get_xlabel() == "key"
    # xlabels / ylabels are the same labels named by axis
    fig = show_heatmaps(weights[0], xlabels=list("wxyz"), ylabels=list("abc"))
    assert ticks(fig.axes[0].get_yticklabels()) == ["a", "b", "c"]
    assert ticks(fig.axes[0].get_xticklabels()) == ["w", "x", "y", "z"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"row_labels": ["a", "b"]}, "got 2 row_labels for matrices with 3 rows"),
        ({"col_labels": ["a"] * 5}, "got 5 col_labels for matrices with 4 columns"),
        ({"ylabels": ["a"] * 4}, "got 4 row_labels for matrices with 3 rows"),
        ({"titles": ["one"]}, r"got 1 titles for 2 panels \(1 x 2\)"),
        ({"row_labels": list("abc"), "ylabels": list("abc")}, "row_labels or ylabels, not both"),
    ],
)
def test_wrong_label_counts_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        show_heatmaps(torch.rand(2, 3, 4), **kwargs)


def test_wrong_shapes_are_clear_errors():
    with pytest.raises(ValueError, match=r"got 1 dimensions \(5,\)"):
        show_heatmaps(torch.rand(5))
    with pytest.raises(ValueError, match=r"got 5 dimensions \(1, 1, 1, 2, 2\)"):
        show_heatmaps(torch.rand(1, 1, 1, 2, 2))


def test_tensors_on_any_device_with_grad_are_accepted():
    weights = torch.rand(3, 3, requires_grad=True)
    fig = show_heatmaps(weights * 2)
    np.testing.assert_allclose(images(fig)[0].get_array(), (weights * 2).detach().numpy())


def test_similarity_heatmap_uses_a_fixed_diverging_scale():
    sims = torch.tensor([[1.0, 0.2], [0.2, 1.0]])
    fig = similarity_heatmap(torch.stack([sims, -sims]), ["sea", "tide"], titles=["a", "b"])
    drawn = images(fig)
    assert len(drawn) == 2
    for image in drawn:
        assert image.get_clim() == (-1.0, 1.0)
        assert image.get_cmap().name == "RdBu_r"
    assert ticks(fig.axes[1].get_xticklabels()) == ["sea", "tide"]


def test_scatter_puts_each_label_at_its_point():
    points = torch.tensor([[0.0, 1.0], [2.0, -1.0], [3.0, 3.0]])
    ax = scatter_with_labels(points, ["sea", "tide", "stone"], groups=["w", "w", "l"], title="t")
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert sorted(map(tuple, offsets)) == sorted(map(tuple, points.numpy()))
    notes = {t.get_text(): tuple(t.xy) for t in ax.texts}
    assert notes == {"sea": (0.0, 1.0), "tide": (2.0, -1.0), "stone": (3.0, 3.0)}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["w", "l"]
    assert ax.get_title() == "t"
    # points of one group share a colour, different groups differ
    colours = [tuple(c.get_facecolor()[0]) for c in ax.collections]
    assert len(set(colours)) == 2


def test_scatter_draws_on_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert scatter_with_labels(np.zeros((2, 2)), ["a", "b"], ax=right) is right
    assert len(right.texts) == 2 and len(left.texts) == 0


@pytest.mark.parametrize(
    ("points", "labels", "groups", "message"),
    [
        (np.zeros((3, 3)), ["a"] * 3, None, r"shape \(N, 2\), got \(3, 3\)"),
        (np.zeros((3, 2)), ["a"] * 2, None, "got 2 labels for 3 points"),
        (np.zeros((3, 2)), ["a"] * 3, ["g"], "got 1 groups for 3 points"),
    ],
)
def test_scatter_errors(points, labels, groups, message):
    with pytest.raises(ValueError, match=message):
        scatter_with_labels(points, labels, groups=groups)


def legend_texts(fig) -> list[str]:
    """The entries of every legend in ``fig``: the figure's own and its axes'."""
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def _cell_pixels(fig, ax, shape) -> np.ndarray:
    """The RGB colour drawn at the centre of every cell of ``ax``'s heatmap, ``(q, k, 3)``."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    height = rgba.shape[0]
    out = np.zeros((*shape, 3), dtype=int)
    for i, j in np.ndindex(shape):
        x, y = ax.transData.transform((j, i))  # display pixels, origin at the bottom left
        out[i, j] = rgba[int(round(height - y)), int(round(x)), :3]
    return out


@pytest.mark.parametrize("hidden", [float("-inf"), float("nan")])
def test_masked_cells_are_grey_and_the_finite_ones_keep_their_colours(hidden):
    # causal scores: distinct finite values on and below the diagonal, -inf (or NaN) above
    T = 5
    scores = np.full((T, T), hidden)
    below = np.tril_indices(T)
    scores[below] = np.arange(len(below[0])) * 0.7 - 3.0
    fig = show_heatmaps(torch.tensor(scores))
    ax = fig.axes[0]
    image = ax.images[0]
    assert image.get_clim() == pytest.approx((-3.0, 0.7 * (len(below[0]) - 1) - 3.0))  # finite
    pixels = _cell_pixels(fig, ax, (T, T))

    # each finite cell: the colour viridis gives its value on that range, computed here
    expected = matplotlib.colormaps["viridis"](plt.Normalize(*image.get_clim())(scores[below]))
    np.testing.assert_allclose(pixels[below], np.round(expected[:, :3] * 255), atol=2)
    assert len({tuple(p) for p in pixels[below]}) == len(below[0])  # all distinct

    # each masked cell: one opaque grey, named by a legend, unlike any finite cell
    bad = matplotlib.colors.to_rgba(image.get_cmap().get_bad())
    assert bad[3] == 1.0 and bad[0] == bad[1] == bad[2]
    above = np.triu_indices(T, 1)
    np.testing.assert_allclose(pixels[above], np.tile(np.round(np.array(bad[:3]) * 255), (10, 1)),
                               atol=1)  # fmt: skip
    assert not any(np.abs(p - np.round(np.array(bad[:3]) * 255)).max() <= 3 for p in pixels[below])
    assert legend_texts(fig) == ["-inf" if hidden < 0 else "nan"]


def test_no_legend_without_non_finite_values_and_all_kinds_are_named():
    assert legend_texts(show_heatmaps(torch.rand(3, 3))) == []
    weights = torch.tensor([[0.0, float("inf")], [float("-inf"), float("nan")]])
    assert legend_texts(show_heatmaps(weights)) == ["-inf / +inf / nan"]  # under the colour bar
    assert legend_texts(show_heatmaps(weights, colorbar=False)) == ["-inf / +inf / nan"]
    assert show_heatmaps(torch.full((2, 2), float("-inf"))).axes[0].images[0].get_clim() == (0, 1)
