"""Figures and widgets for the notebooks.

Every drawing function takes tensors (any device, with or without grad) or
NumPy arrays, draws with matplotlib and returns the ``Figure`` (or ``Axes``)
without showing it: end the notebook cell with ``plt.show()``. Nothing here
changes global matplotlib settings (``setup_notebook`` fixes those).

- ``figures``: :func:`show_heatmaps` (the one heatmap function: ``(q, k)``,
  ``(heads, q, k)`` or ``(layers, heads, q, k)``), :func:`similarity_heatmap`,
  :func:`scatter_with_labels`.
- ``bpe``: how a text splits after ``k`` merges (notebook 02).
- ``attention``: one attention matrix, the causal mask and dropout (04-07).
- ``layer_stats``: activations and gradients layer by layer (08).
- ``widgets``: the interactive versions, all built one way (02, 04-08, 10, 12).
"""

from llm101_helpers.viz.attention import (
    attention_figure,
    causal_dropout_figure,
    causal_dropout_weights,
)
from llm101_helpers.viz.bpe import bpe_pieces_at, describe_merge, format_pieces, pieces_html
from llm101_helpers.viz.figures import scatter_with_labels, show_heatmaps, similarity_heatmap
from llm101_helpers.viz.layer_stats import activation_histogram, plot_layer_stats
from llm101_helpers.viz.widgets import (
    activation_histogram_widget,
    attention_explorer,
    bpe_merge_stepper,
    causal_dropout_explorer,
    poet_widget,
    poets_html,
    poets_widget,
)

__all__ = [
    "activation_histogram",
    "activation_histogram_widget",
    "attention_explorer",
    "attention_figure",
    "bpe_merge_stepper",
    "bpe_pieces_at",
    "causal_dropout_explorer",
    "causal_dropout_figure",
    "causal_dropout_weights",
    "describe_merge",
    "format_pieces",
    "pieces_html",
    "plot_layer_stats",
    "poet_widget",
    "poets_html",
    "poets_widget",
    "scatter_with_labels",
    "show_heatmaps",
    "similarity_heatmap",
]
