"""The generation widget of notebook 10 (``viz.poet_widget``), without a browser.

The reference for what the widget shows is ``generate`` called directly with
the same settings; the tokenizer is the course's character tokenizer.
"""

from __future__ import annotations

import html

import pytest
import torch

from llm101_helpers.generation import generate, write_text
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import CharTokenizer
from llm101_helpers.viz import poet_widget

TOKENIZER = CharTokenizer.train("The tide <&> comes in\n")


def _model() -> GPT:
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=TOKENIZER.vocab_size, context_length=16, d_model=16, num_heads=2,
                    num_layers=1)  # fmt: skip
    return GPT(cfg).eval()


def _expected(model, prompt, temperature=0.8, top_k=40, length=80, seed=0) -> str:
    ids = torch.tensor(TOKENIZER.encode(prompt))
    out = generate(model, ids, length, temperature=temperature, top_k=top_k or None, seed=seed)
    return TOKENIZER.decode(out.tolist())


def _shown(widget) -> str:
    value = widget.children[-1].value
    assert value.startswith("<pre") and value.endswith("</pre>")
    return html.unescape(value[value.index(">") + 1 : -len("</pre>")])


def test_write_text_is_generate_decoded():
    model = _model()
    text = write_text(model, TOKENIZER, "the", temperature=1.2, top_k=5, length=12, seed=3)
    assert text == _expected(model, "the", 1.2, 5, 12, 3)
    assert text.startswith("the") and len(text) == 15
    assert write_text(model, TOKENIZER, "", top_k=5, length=4).startswith("\n")  # empty: a newline
    unlimited = write_text(model, TOKENIZER, "t", top_k=0, length=10, seed=1)
    assert unlimited == _expected(model, "t", top_k=0, length=10, seed=1)


def test_widget_shows_a_sample_and_redraws_on_every_control():
    model = _model()
    w = poet_widget(model, TOKENIZER, prompt="tide", length=20, top_k=8)
    prompt, temperature, top_k, length, seed = w.children[:5]
    assert (prompt.value, top_k.value, length.value, top_k.max) == (
        "tide",
        8,
        20,
        TOKENIZER.vocab_size,
    )
    assert _shown(w) == _expected(model, "tide", top_k=8, length=20)

    seed.value = 5
    assert _shown(w) == _expected(model, "tide", top_k=8, length=20, seed=5)
    temperature.value = 1.5
    top_k.value = 0
    length.value = 30
    assert _shown(w) == _expected(model, "tide", 1.5, 0, 30, 5)
    prompt.value = "in"
    assert _shown(w) == _expected(model, "in", 1.5, 0, 30, 5)


def test_widget_escapes_html():
    model = _model()
    w = poet_widget(model, TOKENIZER, prompt="<&>", length=10)
    raw = w.children[-1].value
    assert "<&>" not in raw and "&lt;&amp;&gt;" in raw
    assert _shown(w).startswith("<&>")


def test_default_top_k_is_clamped_to_a_small_vocabulary():
    model = _model()
    w = poet_widget(model, TOKENIZER)
    assert w.children[2].value == TOKENIZER.vocab_size  # 40 asked, the vocabulary is smaller
    assert _shown(w) == _expected(model, "The tide", top_k=TOKENIZER.vocab_size)


def test_the_widget_writes_with_generations_write_text():
    from llm101_helpers import generation
    from llm101_helpers.viz import widgets

    assert widgets.write_text is generation.write_text is write_text


def test_start_values_the_controls_cannot_show_are_errors():
    model = _model()
    for kwargs, message in [
        ({"temperature": 3.0}, r"temperature must be in 0\.1\.\.2\.0, got 3\.0"),
        ({"length": 5}, r"length must be in 10\.\.300, got 5"),
        ({"top_k": -1}, r"top_k must be 0 \(no limit\) or positive, got -1"),
    ]:
        with pytest.raises(ValueError, match=message):
            poet_widget(model, TOKENIZER, **kwargs)


# --- several poets side by side (notebook 12) ----------------------------------------


def _columns(widget) -> list[str]:
    """The texts of the table the side-by-side widget shows, unescaped, in column order."""
    import re

    cells = re.findall(r"<pre[^>]*>(.*?)</pre>", widget.children[-1].value, flags=re.S)
    return [html.unescape(c) for c in cells]


def test_poets_widget_shows_each_model_with_the_same_settings():
    from llm101_helpers.viz import poets_widget

    torch.manual_seed(5)
    other = GPT(_model().config).eval()  # same shape, other weights
    poets = {"first": (_model(), TOKENIZER), "second <b>": (other, TOKENIZER)}
    w = poets_widget(poets, prompt="tide", length=20, top_k=8, seed=2)
    assert _columns(w) == [_expected(m, "tide", 0.8, 8, 20, 2) for m, _ in poets.values()]
    assert "second &lt;b&gt;" in w.children[-1].value  # names are escaped too
    w.controls["temperature"].value = 1.5  # every control redraws every column
    w.controls["prompt"].value = "<&>"
    assert _columns(w) == [_expected(m, "<&>", 1.5, 8, 20, 2) for m, _ in poets.values()]


def test_poets_widget_and_table_refuse_bad_input():
    from llm101_helpers.viz import poets_html, poets_widget

    with pytest.raises(ValueError, match="at least one"):
        poets_widget({})
    with pytest.raises(ValueError, match="at least one"):
        poets_html({})
    with pytest.raises(TypeError, match="unknown setting"):
        poets_widget({"a": (_model(), TOKENIZER)}, temprature=0.5)
    with pytest.raises(ValueError, match="temperature"):
        poets_widget({"a": (_model(), TOKENIZER)}, temperature=5.0)
