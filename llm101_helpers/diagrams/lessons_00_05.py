"""Step diagrams of lessons 00-05: the course path, the generation loop, words vs BPE pieces,
encode/decode, a BPE merge tree, one merge step, the embedding lookup, sliding windows, the
score grid of "Hi I Am Good", a context vector, self-attention's data flow and why scores
are scaled. The numbers drawn are computed here from the lessons' own inputs, or (GPT-2's
pieces and ids) checked against tiktoken by ``tests/test_diagrams.py``.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from llm101_helpers.diagrams.course_map import LESSONS
from llm101_helpers.diagrams.registry import register
from llm101_helpers.diagrams.style import PALETTE, arrow, box, canvas, grid, label

__all__ = [
    "HARBOUR_TREE", "HI_I_AM_GOOD", "POEM_LINE_IDS", "POEM_WORD_VOCAB", "QUASAR_PIECES",
    "QUASAR_WORDS", "TIDE_WORDS",
]

#: notebook 04's embeddings of "Hi I Am Good" (T=4, d=3)
HI_I_AM_GOOD = (["Hi", "I", "Am", "Good"],
                [[0.9, 0.1, 0.4], [0.1, 0.9, 0.2], [0.2, 0.8, 0.3], [0.8, 0.2, 0.7]])
#: a poem line by words (notebook 01's vocabulary lacks "quasar") and by GPT-2's BPE
QUASAR_WORDS = ["The", "<|unk|>", "hummed", "at", "the", "harbour", "."]
QUASAR_PIECES = ["The", " qu", "asar", " hum", "med", " at", " the", " harbour", "."]
#: GPT-2's merges that build " harbour": (token, id, left, right), in the order BPE applies them
HARBOUR_TREE = [("ou", 280, "o", "u"), ("ar", 283, "a", "r"), (" h", 289, " ", "h"),
                ("our", 454, "ou", "r"), (" har", 3971, " h", "ar"), ("bour", 6084, "b", "our"),
                (" harbour", 39720, " har", "bour")]
#: notebook 01's word tokens and ids of "The tide went out.", and its vocabulary's size
TIDE_WORDS = (["The", "tide", "went", "out", "."], [10, 385, 89, 28, 2])
POEM_WORD_VOCAB = 3615
#: GPT-2 ids of "The tide went out before the town was up"
POEM_LINE_IDS = [464, 20013, 1816, 503, 878, 262, 3240, 373, 510]
GROUPS = [("01", "02", "token"), ("03", "03", "embedding"), ("04", "07", "attention"),
          ("08", "08", "norm"), ("09", "09", "ffn"), ("10", "10", "output"),
          ("11", "11", "attention")]


def _visible(token: str) -> str:
    return token.replace(" ", "␣")


@register("00_course_path.png", alt="The twelve lessons in order, coloured by the part of the "
          "GPT they build: tokenizers (01-02), embeddings (03), attention (04-07), layer "
          "normalization (08), the transformer block and GPT (09), training (10), speed (11).")
def course_path() -> Figure:
    fig, ax = canvas(10, 2.3)
    colour = {f"{n:02d}": c for a, b, c in GROUPS for n in range(int(a), int(b) + 1)}
    for i, (lesson, (title, _)) in enumerate(LESSONS.items()):
        row, col = divmod(i, 6)
        x, y = 0.2 + col * 1.62, 1.3 - row * 1.05
        title = title.replace(" and ", " &\n").replace("Making attention", "Making\nattention")
        box(ax, x, y, 1.4, 0.7, f"{lesson}\n{title}",
            colour=colour.get(lesson, "data"), size=8.5)
        if col < 5:
            arrow(ax, (x + 1.4, y + 0.35), (x + 1.62, y + 0.35))
    ax.plot([9.5, 9.75, 9.75, 0.05, 0.05, 0.2], [1.65, 1.65, 1.12, 1.12, 0.6, 0.6],
            color=PALETTE["ink"], lw=1.2)
    label(ax, 0.2, 2.15, "The path: each lesson builds the next piece on top of the last",
          size=10, ha="left", bold=True)
    return fig


@register("00_generation_loop.png", alt="How a GPT writes: the ids of 'The tide went' go into "
          "the GPT, which gives logits for the next token; one token is picked, appended to "
          "the ids, and the longer sequence goes in again, one token per step.")
def generation_loop() -> Figure:
    fig, ax = canvas(9, 2.2)
    box(ax, 0.2, 0.9, 2.1, 0.6, '"The tide went"\nids (1, T)', colour="token")
    box(ax, 2.9, 0.9, 1.3, 0.6, "GPT", colour="ffn", strong=True, size=12)
    box(ax, 4.8, 0.9, 1.8, 0.6, "logits\n(1, T, vocab_size)", colour="output")
    box(ax, 7.2, 0.9, 1.6, 0.6, 'next token\n" out"', colour="output", strong=True)
    arrow(ax, (2.3, 1.2), (2.9, 1.2))
    arrow(ax, (4.2, 1.2), (4.8, 1.2))
    arrow(ax, (6.6, 1.2), (7.2, 1.2), "pick one", offset=(0, 0.32))
    ax.plot([8.0, 8.0, 1.25], [0.9, 0.45, 0.45], color=PALETTE["ink"], lw=1.3)
    arrow(ax, (1.25, 0.45), (1.25, 0.9))
    label(ax, 4.6, 0.3, 'append: "The tide went out", and go round again', size=9)
    label(ax, 0.2, 1.95, "Generation: one token per step, the GPT sees all tokens so far",
          size=10, ha="left", bold=True)
    return fig


def _token_row(ax, y: float, tokens: list[str], colour: str, name: str,
               odd: set[int] = frozenset()) -> None:
    label(ax, 0.2, y + 0.2, name, size=9, ha="left")
    x = 2.35
    for i, token in enumerate(tokens):
        w = 0.22 + 0.095 * len(_visible(token))
        box(ax, x, y, w, 0.4, _visible(token), colour="output" if i in odd else colour, size=9,
            strong=i in odd)
        x += w + 0.08


@register("01_words_vs_pieces.png", alt="The line 'The quasar hummed at the harbour.' split "
          "two ways: by words, where 'quasar' is not in the vocabulary and becomes <|unk|>, and "
          "by GPT-2's BPE pieces (The, ' qu', 'asar', ' hum', 'med', ...), where nothing is lost.")
def words_vs_pieces() -> Figure:
    fig, ax = canvas(9, 1.9)
    label(ax, 0.2, 1.65, 'One line, "The quasar hummed at the harbour.", tokenized two ways',
          size=10, ha="left", bold=True)
    _token_row(ax, 0.8, QUASAR_WORDS, "token", "words (01):", odd={1})
    _token_row(ax, 0.15, QUASAR_PIECES, "token", "BPE pieces (02):")
    label(ax, 8.9, 0.35, "␣ = a space", size=8, colour="muted", ha="right")
    return fig


@register("01_encode_decode.png", alt="encode looks each token of 'The tide went out.' up in "
          "token_to_id and gives the ids 10, 385, 89, 28, 2; decode looks the ids up in "
          "id_to_token and joins the tokens back into the text.")
def encode_decode() -> Figure:
    fig, ax = canvas(9, 2.2)
    tokens, ids = TIDE_WORDS
    box(ax, 0.2, 0.8, 1.7, 0.6, '"The tide\nwent out."', colour="data")
    for i, (token, i_d) in enumerate(zip(tokens, ids, strict=True)):
        x = 2.7 + i * 0.72
        box(ax, x, 1.25, 0.62, 0.4, token, colour="token", size=9)
        box(ax, x, 0.35, 0.62, 0.4, str(i_d), colour="token", strong=True, size=9)
        arrow(ax, (x + 0.22, 1.25), (x + 0.22, 0.75))
        arrow(ax, (x + 0.42, 0.75), (x + 0.42, 1.25), colour="muted")
    arrow(ax, (1.9, 1.25), (2.7, 1.45), "split", offset=(-0.1, 0.1))
    label(ax, 6.45, 1.0, "encode: token_to_id[token]\ndecode: id_to_token[id]", size=9,
          ha="left", mono=True)
    label(ax, 2.6, 1.93, "tokens", size=9, ha="left")
    label(ax, 2.6, 0.17, "ids", size=9, ha="left")
    vocabulary = f"(vocabulary: {POEM_WORD_VOCAB} tokens\nof the poems, most frequent first)"
    label(ax, 6.45, 0.45, vocabulary, size=8, ha="left", colour="muted")
    return fig


def _tree_positions() -> dict[str, tuple[float, float]]:
    leaves = [" ", "h", "a", "r", "b", "o", "u", "r2"]
    pos = {leaf: (0.6 + i * 0.75, 0.35) for i, leaf in enumerate(leaves)}
    for token, _, left, right in HARBOUR_TREE:
        right = "r2" if right == "r" and token == "our" else right
        (x1, y1), (x2, y2) = pos[left], pos[right]
        pos[token] = ((x1 + x2) / 2, max(y1, y2) + 0.55)  # one level above its higher child
    return pos


@register("02_merge_tree.png", alt="The GPT-2 token ' harbour' (id 39720) as a tree: the bytes "
          "space h a r b o u r at the bottom are merged pair by pair, ou (280), ar (283), "
          "' h' (289), our (454), ' har' (3971), bour (6084), then ' harbour'.")
def merge_tree() -> Figure:
    fig, ax = canvas(8, 3.3)
    pos = _tree_positions()
    for token, _, left, right in HARBOUR_TREE:
        right = "r2" if right == "r" and token == "our" else right
        for child in (left, right):
            ax.plot([pos[token][0], pos[child][0]], [pos[token][1], pos[child][1] + 0.32],
                    color=PALETTE["muted"], lw=1.2, zorder=0)
    for name, (x, y) in pos.items():
        merged = next((m for m in HARBOUR_TREE if m[0] == name), None)
        text = _visible(name[0] if name == "r2" else name)
        w = 0.3 + 0.1 * len(text)
        box(ax, x - w / 2, y, w, 0.32, text, colour="token", strong=merged is not None, size=9)
        if merged:
            label(ax, x + w / 2 + 0.05, y + 0.16, str(merged[1]), size=7.5, ha="left",
                  colour="muted")
    label(ax, 0.2, 3.1, "How BPE builds ' harbour' (GPT-2): lowest id = learned first = "
          "merged first", size=10, ha="left", bold=True)
    label(ax, 7.9, 0.15, "bytes at the bottom; ␣ = space", size=8, colour="muted", ha="right")
    return fig


@register("02_pair_merge.png", alt="One BPE training step on the ids 1 2 3 1 2: the pair "
          "counts are (1, 2): 2, (2, 3): 1, (3, 1): 1; the most frequent pair (1, 2) becomes the "
          "new token 256, giving 256 3 256.")
def pair_merge() -> Figure:
    fig, ax = canvas(9, 2.0)
    ids = [1, 2, 3, 1, 2]
    pair_colour = [["token" if i in (0, 1, 3, 4) else "data" for i in range(5)]]
    grid(ax, 0.3, 0.8, [[str(i) for i in ids]], cell=0.5, colours=pair_colour)
    label(ax, 0.3, 1.5, "ids", size=9, ha="left")
    label(ax, 3.2, 1.3, "get_pair_counts:", size=9, ha="left", mono=True)
    for k, text in enumerate(["(1, 2): 2  <- most frequent", "(2, 3): 1", "(3, 1): 1"]):
        label(ax, 3.2, 1.0 - 0.25 * k, text, size=9, ha="left", mono=True,
              bold=k == 0)
    arrow(ax, (5.75, 1.05), (6.4, 1.05), "merge_pair", offset=(0, 0.05))
    grid(ax, 6.55, 0.8, [["256", "3", "256"]], cell=0.5,
         colours=[["output", "data", "output"]])
    label(ax, 6.55, 1.5, "(1, 2) -> new id 256", size=9, ha="left")
    label(ax, 0.2, 1.85, "One merge: count adjacent pairs, replace the most frequent by a new id",
          size=10, ha="left", bold=True)
    return fig


@register("03_embedding_lookup.png", alt="An embedding lookup as a product: the one-hot row of "
          "id 3 (1, vocab_size) times the weight matrix (vocab_size, d_model) picks out row 3 of "
          "the weight, which is exactly what nn.Embedding returns for id 3.")
def embedding_lookup() -> Figure:
    fig, ax = canvas(9, 2.9)
    vocab_size, d_model, token_id, cell = 6, 3, 3, 0.34
    one_hot = [["1" if j == token_id else "0" for j in range(vocab_size)]]
    grid(ax, 0.3, 1.3, one_hot, cell=cell,
         colours=[["embedding" if j == token_id else None for j in range(vocab_size)]])
    label(ax, 0.3, 1.0, "F.one_hot(3, num_classes=6)\n(1, vocab_size)", size=9, ha="left",
          va="top")
    label(ax, 2.65, 1.47, "@", size=14)
    rows = [[f"w{i}{j}" for j in range(d_model)] for i in range(vocab_size)]
    grid(ax, 3.3, 0.55, rows, cell=cell, size=8,
         colours=[["embedding" if i == token_id else None] * d_model for i in range(vocab_size)])
    for i in range(vocab_size):
        label(ax, 3.18, 0.55 + (vocab_size - 0.5 - i) * cell, str(i), size=8, colour="muted")
    label(ax, 3.3, 0.4, "weight\n(vocab_size, d_model)", size=9, ha="left", va="top")
    label(ax, 4.8, 1.47, "=", size=14)
    grid(ax, 5.3, 1.3, [rows[token_id]], cell=cell, size=8, colours=[["embedding"] * d_model])
    label(ax, 5.3, 1.0, "weight[3]\n(1, d_model)", size=9, ha="left", va="top")
    label(ax, 6.35, 1.47, "nn.Embedding(vocab_size, d_model)\nskips the product and "
          "returns\nrow 3 directly: the same numbers,\nno multiplications", size=9, ha="left")
    label(ax, 0.2, 2.7, "An embedding lookup is a one-hot row times the weight matrix",
          size=10, ha="left", bold=True)
    return fig


@register("03_sliding_windows.png", alt="Sliding windows over the ids of 'The tide went out "
          "before the town was up' with context_length=4 and stride=4: each window's inputs "
          "are 4 ids, its targets the same 4 positions shifted one id to the right.")
def sliding_windows() -> Figure:
    from llm101_helpers.data import SlidingWindowDataset

    fig, ax = canvas(9.6, 2.6)
    context_length, stride, cell, high = 4, 4, 0.82, 0.4
    tokens = ["The", "␣tide", "␣went", "␣out", "␣before", "␣the", "␣town", "␣was", "␣up"]
    dataset = SlidingWindowDataset(POEM_LINE_IDS, context_length=context_length, stride=stride)
    x0 = 1.5
    for j, token in enumerate(tokens):
        label(ax, x0 + (j + 0.5) * cell, 2.2, token, size=8, colour="muted")
    grid(ax, x0, 1.7, [[str(i) for i in POEM_LINE_IDS]], cell=cell, height=high, size=8.5)
    label(ax, 0.2, 1.9, "ids", size=9, ha="left")
    label(ax, 0.2, 1.2, "inputs x", size=9, ha="left")
    label(ax, 0.2, 0.6, "targets y", size=9, ha="left")
    for k in range(len(dataset)):
        x, y = dataset[k]
        start = k * stride
        grid(ax, x0 + start * cell, 1.0, [[str(int(i)) for i in x]], cell=cell, height=high,
             size=8.5, colour="token")
        grid(ax, x0 + (start + 1) * cell, 0.4, [[str(int(i)) for i in y]], cell=cell,
             height=high, size=8.5, colour="output")
        label(ax, x0 + (start + 2) * cell, 0.22, f"window {k}", size=8, colour="muted")
    label(ax, 0.2, 2.45, f"SlidingWindowDataset(ids, context_length={context_length}, "
          f"stride={stride}): input[t] is trained to predict target[t], the next id",
          size=10, ha="left", bold=True)
    return fig


def _hi_scores() -> tuple[list[str], torch.Tensor, torch.Tensor]:
    tokens, rows = HI_I_AM_GOOD
    x = torch.tensor(rows)
    scores = x @ x.T  # (T, T)
    return tokens, x, torch.softmax(scores, dim=-1)


def _labelled_grid(ax, x: float, y: float, values: torch.Tensor, tokens: list[str],
                   colours: list[list[str | None]], cell: float = 0.5) -> None:
    grid(ax, x, y, [[f"{v:.2f}" for v in row] for row in values.tolist()], cell=cell,
         colour="attention", colours=colours, size=8.5)
    for i, token in enumerate(tokens):
        label(ax, x - 0.08, y + (len(tokens) - 0.5 - i) * cell, token, size=9, ha="right")
        label(ax, x + (i + 0.5) * cell, y + len(tokens) * cell + 0.12, token, size=9)


@register("04_score_grid.png", alt="The score grid of 'Hi I Am Good': scores = x @ x.T, one "
          "row per query and one column per key, and the attention weights after a softmax "
          "over each row (each row sums to 1, its largest weight highlighted).")
def score_grid() -> Figure:
    fig, ax = canvas(9, 3.3)
    tokens, x, weights = _hi_scores()
    scores = x @ x.T
    plain = [[None] * 4 for _ in range(4)]
    _labelled_grid(ax, 0.9, 0.45, scores, tokens, plain)
    label(ax, 1.9, 0.22, "scores = x @ x.T   (T, T)", size=9, mono=True)
    arrow(ax, (3.2, 1.45), (4.6, 1.45), "softmax(dim=-1)", offset=(0, 0.06))
    best = weights.argmax(dim=-1).tolist()
    marks = [["highlight" if j == best[i] else None for j in range(4)] for i in range(4)]
    _labelled_grid(ax, 5.4, 0.45, weights, tokens, marks)
    label(ax, 6.4, 0.22, "weights: each row sums to 1", size=9, mono=True)
    label(ax, 7.55, 1.45, "rows: queries\ncolumns: keys", size=9, ha="left", colour="muted")
    label(ax, 0.2, 3.1, 'Every token scores every token of "Hi I Am Good", then softmax '
          "turns each row into weights", size=10, ha="left", bold=True)
    return fig


@register("04_context_vector.png", alt="The context vector of the query Am: each token's "
          "embedding row of x is multiplied by Am's attention weight for it, and the four "
          "weighted rows are added up into one vector of the same size.")
def context_vector() -> Figure:
    fig, ax = canvas(8, 2.9)
    tokens, x, weights = _hi_scores()
    query = tokens.index("Am")
    for i, token in enumerate(tokens):
        y = 1.85 - i * 0.5
        label(ax, 0.75, y + 0.2, token, size=9, ha="right")
        box(ax, 0.9, y, 0.7, 0.4, f"{weights[query, i]:.2f}", colour="attention", size=9)
        label(ax, 1.8, y + 0.2, "×", size=12)
        grid(ax, 2.0, y, [[f"{v:.1f}" for v in x[i].tolist()]], cell=0.4, colour="embedding")
        if i:
            label(ax, 3.45, y + 0.45, "+", size=12)
    arrow(ax, (3.75, 1.15), (4.6, 1.15), "sum", offset=(0, 0.05))
    context = weights[query] @ x  # (d,)
    grid(ax, 4.8, 0.95, [[f"{v:.2f}" for v in context.tolist()]], cell=0.5, colour="embedding",
         colours=[["embedding"] * 3])
    label(ax, 5.55, 0.7, "context vector of Am\nweights[2] @ x", size=9, va="top")
    label(ax, 1.25, 2.45, "weight", size=8.5, colour="muted")
    label(ax, 2.6, 2.45, "x (embedding)", size=8.5, colour="muted")
    label(ax, 0.2, 2.75, "The context vector of Am: the rows of x weighted by Am's attention",
          size=10, ha="left", bold=True)
    return fig


@register("05_qkv_flow.png", alt="Self-attention's data flow: x (T, d_in) goes through W_query, "
          "W_key and W_value to queries, keys and values (T, d_out); queries @ keys.T divided "
          "by sqrt(d_k) gives scores (T, T), softmax gives weights, and weights @ values gives "
          "the context vectors (T, d_out).")
def qkv_flow() -> Figure:
    fig, ax = canvas(10, 3.2)
    box(ax, 0.2, 1.25, 1.0, 0.6, "x\n(T, d_in)", colour="embedding")
    for w, out, y in [("W_query", "queries", 2.2), ("W_key", "keys", 1.25),
                      ("W_value", "values", 0.3)]:
        arrow(ax, (1.2, 1.55), (1.8, y + 0.3))
        box(ax, 1.8, y, 1.35, 0.6, f"{w}\n(d_in, d_out)", colour="ffn", size=9)
        arrow(ax, (3.15, y + 0.3), (3.6, y + 0.3))
        box(ax, 3.6, y, 1.2, 0.6, f"{out}\n(T, d_out)", colour="attention", size=9)
    box(ax, 5.4, 1.7, 1.75, 0.7, "scores =\nqueries @ keys.T\n/ sqrt(d_k)   (T, T)",
        colour="attention", size=8.5)
    arrow(ax, (4.8, 2.5), (5.4, 2.2))
    arrow(ax, (4.8, 1.55), (5.4, 1.9))
    arrow(ax, (7.15, 2.05), (7.6, 2.05), "softmax", offset=(0, 0.36))
    box(ax, 7.6, 1.75, 1.0, 0.6, "weights\n(T, T)", colour="attention", strong=True, size=9)
    box(ax, 7.55, 0.3, 2.3, 0.6, "context = weights @ values\n(T, d_out)", colour="embedding",
        size=9)
    arrow(ax, (8.1, 1.75), (8.1, 0.9))
    arrow(ax, (4.8, 0.6), (7.55, 0.6))
    label(ax, 0.2, 3.0, "Self-attention: three learned projections, scaled scores, softmax, "
          "weighted sum of values", size=10, ha="left", bold=True)
    return fig


def _scaled_example(d_k: int = 64, keys: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax of one query's scores against ``keys`` random keys, unscaled and scaled."""
    g = torch.Generator().manual_seed(5)
    q, k = torch.randn(d_k, generator=g), torch.randn(keys, d_k, generator=g)
    scores = k @ q  # (keys,): variance d_k
    return torch.softmax(scores, dim=-1), torch.softmax(scores / d_k**0.5, dim=-1)


@register("05_scaling.png", alt="Why scores are divided by sqrt(d_k): for random queries and "
          "keys with d_k = 64 the raw dot products are large, so softmax puts almost all weight "
          "on one key; divided by sqrt(64) = 8 the weights stay spread over several keys.")
def scaling() -> Figure:
    fig, ax = canvas(9, 2.8)
    unscaled, scaled = _scaled_example()
    for n, (weights, title, colour) in enumerate([
        (unscaled, "softmax(q · k)", "output"), (scaled, "softmax(q · k / sqrt(d_k))", "attention"),
    ]):
        bars = fig.add_axes((0.07 + n * 0.5, 0.16, 0.38, 0.6))
        bars.bar(range(len(weights)), weights.tolist(), color=PALETTE[colour])
        bars.set_ylim(0, 1)
        bars.set_xticks(range(len(weights)), [f"k{j}" for j in range(len(weights))])
        bars.set_title(title, fontsize=9, family="DejaVu Sans")
        bars.tick_params(labelsize=8)
        bars.spines[["top", "right"]].set_visible(False)
    label(ax, 0.2, 2.6, "One query, six random keys, d_k = 64: unscaled, softmax picks one key; "
          "scaled, it weighs several", size=10, ha="left", bold=True)
    return fig
