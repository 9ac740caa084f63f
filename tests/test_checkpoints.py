"""Tests for llm101_helpers.training's checkpoints: round trips, damage, faults, old files.

Independent checks: a round trip must give bit-identical model outputs; a
save interrupted anywhere (an exception injected into the writer at many
byte counts, a real SIGINT to a process saving in a loop) must leave a file
that loads, old or new; every single-bit flip of a small checkpoint (a seeded
sample) must be refused or load the identical content; a file written the way
the first checkpoint format was (built here, from its description) still loads.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import BPETokenizer, CharTokenizer
from llm101_helpers.training import (
    CheckpointError,
    History,
    load_checkpoint,
    save_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = GPTConfig(vocab_size=8, context_length=4, d_model=4, num_heads=1, num_layers=1)
EXTRA = {"note": "x", "n": 3, "lr": 0.1, "mixed": [1, 2.5, "s", None, True], "pair": (1, 2)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train("the sea the sky the shore " * 20, vocab_size=266)


def small_model(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**SMALL.to_dict(), **overrides})).eval()


def typed(value):
    """``value`` with every container and scalar tagged by its type (so 1 != 1.0, [] != ())."""
    if isinstance(value, dict):
        return ("dict", sorted((k, typed(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, value)


def content(ck) -> tuple:
    """Everything a loaded checkpoint hands back, in a comparable form."""
    tok = ck.tokenizer
    tokenizer = tok.chars if isinstance(tok, CharTokenizer) else tok.dumps()
    weights = [
        (k, v.dtype, v.shape, v.flatten().tolist()) for k, v in ck.model.state_dict().items()
    ]
    return ck.config, type(tok).__name__, tokenizer, typed(ck.extra), weights


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_checkpoint_round_trip_restores_identical_outputs(tmp_path, bpe, tie, kind):
    tok = bpe if kind == "bpe" else CharTokenizer.train("the sea the sky")
    torch.manual_seed(1)
    cfg = GPTConfig.preset("tiny", vocab_size=tok.vocab_size, tie_weights=tie)
    model = GPT(cfg).eval()
    ids = torch.tensor([tok.encode("the sea")])
    path = save_checkpoint(tmp_path / "m.pt", model, tok, extra={"note": "test", **EXTRA})
    ck = load_checkpoint(path)
    assert ck.config == cfg and typed(ck.extra) == typed({"note": "test", **EXTRA})
    torch.testing.assert_close(ck.model(ids), model(ids), rtol=0, atol=0)
    assert ck.tokenizer.encode("the sky") == tok.encode("the sky")
    if tie:
        assert ck.model.out_head.weight is ck.model.embedding.token_embedding.weight
    # into an existing model of the same shape
    torch.manual_seed(2)
    other = GPT(cfg)
    load_checkpoint(path, model=other)
    torch.testing.assert_close(other(ids), model(ids), rtol=0, atol=0)
    # and torch.load with weights_only=True reads it directly
    assert "state_dict" in torch.load(path, weights_only=True)
    assert files_in(tmp_path) == ["m.pt"]  # no temporary file left beside it


def test_checkpoint_config_mismatch_names_the_fields(tmp_path):
    tok = CharTokenizer.train("abc")
    model = GPT(GPTConfig.preset("tiny", vocab_size=3))
    path = save_checkpoint(tmp_path / "m.pt", model, tok)
    wrong = GPT(GPTConfig.preset("tiny", vocab_size=3, num_layers=3))
    with pytest.raises(CheckpointError, match=r"num_layers: checkpoint 2, model 3"):
        load_checkpoint(path, model=wrong)


def test_new_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "m.pt", small_model(), CharTokenizer("abcdefgh"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640  # 0o666 less the umask, as open() would


# --- damaged files ---------------------------------------------------------------------


def test_corrupted_checkpoints_raise_clear_errors(tmp_path):
    tok = CharTokenizer.train("abc")
    model = GPT(GPTConfig.preset("tiny", vocab_size=3))
    path = save_checkpoint(tmp_path / "m.pt", model, tok)
    raw = path.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(truncated)

    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint at all")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(garbage)

    # weights changed after saving (checksum no longer matches)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"][GPT.TOKEN_TABLE][0, 0] += 1.0
    edited = tmp_path / "edited.pt"
    torch.save(payload, edited)
    with pytest.raises(CheckpointError, match="failed its checksum"):
        load_checkpoint(edited)

    # flipped bytes inside the file: either torch or the checksum notices
    flipped = bytearray(raw)
    for i in range(len(raw) // 3, len(raw) // 3 + 64):
        flipped[i] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an llm101 GPT checkpoint"):
        load_checkpoint(foreign)


def _edit(payload: dict, part: str) -> None:
    """One change a hand edit (or a bad disk) could make to a part the weights do not include."""
    if part == "tie_weights":  # would make the output head the embedding matrix
        payload["config"]["tie_weights"] = True
    elif part == "dropout":
        payload["config"]["dropout"] = 0.5
    elif part == "tokenizer":
        payload["tokenizer"]["data"] = "bacdefgh"
    elif part == "extra value":
        payload["extra"]["n"] = 4
    elif part == "extra key":
        payload["extra"]["nn"] = payload["extra"].pop("n")
    elif part == "tuple to list":
        payload["extra"]["pair"] = [1, 2]


@pytest.mark.parametrize(
    "part", ["tie_weights", "dropout", "tokenizer", "extra value", "extra key", "tuple to list"]
)
def test_the_checksum_covers_config_tokenizer_and_extra(tmp_path, part):
    path = save_checkpoint(tmp_path / "m.pt", small_model(), CharTokenizer("abcdefgh"), EXTRA)
    payload = torch.load(path, weights_only=True)
    _edit(payload, part)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="failed its checksum"):
        load_checkpoint(path)


def _pickle_bytes(path: Path) -> range:
    """Where the pickled payload (``data.pkl``: all but the tensor bytes) lies in the file."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/data.pkl"))
    header = path.read_bytes()[info.header_offset : info.header_offset + 30]
    name_length, extra_length = struct.unpack("<HH", header[26:30])  # the local file header
    start = info.header_offset + 30 + name_length + extra_length
    return range(start, start + info.compress_size)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch warns about some flipped opcodes
def test_single_bit_flips_are_refused_or_harmless(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", small_model(), CharTokenizer("abcdefgh"), EXTRA)
    raw = path.read_bytes()
    expected = content(load_checkpoint(path))
    pickled = _pickle_bytes(path)
    assert raw[pickled.start : pickled.start + 2] == b"\x80\x02"  # a pickle's first opcode
    rng = random.Random(0)
    bits = rng.sample(range(8 * pickled.start, 8 * pickled.stop), 500)  # config, tokenizer, extra
    bits += rng.sample(range(8 * len(raw)), 500)  # anywhere: zip records, tensor bytes
    flipped = tmp_path / "flipped.pt"
    refused = 0
    for bit in bits:
        data = bytearray(raw)
        data[bit // 8] ^= 1 << (bit % 8)
        flipped.write_bytes(data)
        try:
            ck = load_checkpoint(flipped)
        except CheckpointError:
            refused += 1
            continue
        assert content(ck) == expected, f"flipping bit {bit} changed what loads"
    assert refused > 500  # the sample does reach the stored data


# --- saves that must be refused before writing ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (np.float64(3.6), r"extra\['loss'\] is a numpy.float64"),
        (Path("runs/a"), r"extra\['loss'\] is a pathlib.*Path.*store str\(path\)"),
        (History(), r"extra\['loss'\] is a llm101_helpers.training.loop.History"),
        (lambda x: x, r"extra\['loss'\] is a builtins.function"),
        ({"inner": [1, {2, 3}]}, r"extra\['loss'\]\['inner'\]\[1\] is a builtins.set"),
        ({1: "one"}, r"extra\['loss'\] has a key 1 of type int"),
    ],
)
def test_save_refuses_what_would_not_load_and_keeps_the_old_file(tmp_path, value, named):
    path = save_checkpoint(tmp_path / "m.pt", small_model(), CharTokenizer("abcdefgh"), EXTRA)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=named):
        save_checkpoint(path, small_model(1), CharTokenizer("abcdefgh"), {"loss": value})
    assert path.read_bytes() == before and files_in(tmp_path) == ["m.pt"]
    assert load_checkpoint(path).extra == EXTRA


def test_save_refuses_a_tokenizer_larger_than_the_vocabulary(tmp_path, bpe):
    model = small_model(vocab_size=100)
    with pytest.raises(
        ValueError, match="tokenizer has 266 tokens but the model's vocab_size is 100"
    ):
        save_checkpoint(tmp_path / "m.pt", model, bpe)
    with pytest.raises(TypeError, match="cannot store a str"):
        save_checkpoint(tmp_path / "m.pt", model, "abc")
    assert files_in(tmp_path) == []


# --- faults during a save -------------------------------------------------------------------


class _FailingFile:
    """A file whose writes raise ``error`` once ``budget`` bytes have been written."""

    def __init__(self, f, budget: float, error: BaseException) -> None:
        self.f, self.budget, self.error, self.written = f, budget, error, 0

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.budget:
            self.f.write(data[: int(self.budget)])
            self.budget = 0
            raise self.error
        self.budget -= len(data)
        self.written += len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_save_failing_anywhere_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    tok = CharTokenizer("abcdefgh")
    path = save_checkpoint(tmp_path / "m.pt", small_model(0), tok, EXTRA)
    old = content(load_checkpoint(path))
    real_save = torch.save
    counter = _FailingFile(None, float("inf"), OSError())

    def counting_save(obj, f, *args, **kwargs):  # the bytes torch.save writes through a file
        with open(f, "wb") as counter.f:
            return real_save(obj, counter, *args, **kwargs)

    monkeypatch.setattr(torch, "save", counting_save)
    save_checkpoint(tmp_path / "new.pt", small_model(1), tok, {"other": 1}).unlink()
    monkeypatch.undo()
    size = counter.written
    budgets = sorted({0, 1, 63, 64, 65, size - 1, *range(0, size, max(1, size // 40))})
    for i, budget in enumerate(budgets):
        error = KeyboardInterrupt() if i % 4 == 3 else OSError(28, "No space left (injected)")

        def failing_save(obj, f, *args, budget=budget, error=error, **kwargs):
            with open(f, "wb") as out:  # atomic_save hands torch.save the temporary file's path
                return real_save(obj, _FailingFile(out, budget, error), *args, **kwargs)

        monkeypatch.setattr(torch, "save", failing_save)
        expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else Exception
        with pytest.raises(expected):  # Ctrl-C stays Ctrl-C; torch may wrap the OSError
            save_checkpoint(path, small_model(1), tok, {"other": 1})
        monkeypatch.undo()
        assert content(load_checkpoint(path)) == old, f"failed after {budget} bytes"
        assert files_in(tmp_path) == ["m.pt"]
    for name in ("fsync", "replace"):  # the steps after the writing
        monkeypatch.setattr(os, name, lambda *a, **k: (_ for _ in ()).throw(OSError("injected")))
        with pytest.raises(OSError, match="injected"):
            save_checkpoint(path, small_model(1), tok, {"other": 1})
        monkeypatch.undo()
        assert content(load_checkpoint(path)) == old and files_in(tmp_path) == ["m.pt"]


_SAVER = """
import sys, traceback, torch
from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import CharTokenizer
from llm101_helpers.training import save_checkpoint
torch.set_num_threads(1)
path, wanted = sys.argv[1], int(sys.argv[2])
cfg = GPTConfig(vocab_size=8, context_length=32, d_model=64, num_heads=2, num_layers=2)
models = []
for seed in (0, 1):
    torch.manual_seed(seed)
    models.append(GPT(cfg))
tok = CharTokenizer("abcdefgh")
save_checkpoint(path, models[0], tok, extra={"seed": 0})
print("ready", flush=True)
interrupts = in_save = saves = 0
while interrupts < wanted:
    try:
        while True:
            save_checkpoint(path, models[saves % 2], tok, extra={"seed": saves % 2})
            saves += 1
    except KeyboardInterrupt as err:
        interrupts += 1
        frames = traceback.walk_tb(err.__traceback__)
        in_save += any(frame.f_code.co_name == "atomic_save" for frame, _ in frames)
        print("interrupted", flush=True)  # the test sends the next signal only after this line
print(saves, interrupts, in_save, flush=True)
"""


def test_sigint_while_saving_always_leaves_a_complete_checkpoint(tmp_path):
    path = tmp_path / "m.pt"
    cfg = GPTConfig(vocab_size=8, context_length=32, d_model=64, num_heads=2, num_layers=2)
    weights = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        weights.append(GPT(cfg).state_dict())
    wanted = 20
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(path), str(wanted)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        rng = random.Random(0)
        for _ in range(wanted):
            time.sleep(rng.uniform(0.002, 0.02))
            # One signal at a time: two SIGINTs that arrive while the saver is inside one C call
            # become a single KeyboardInterrupt, so wait until this one has been handled.
            proc.send_signal(signal.SIGINT)
            assert proc.stdout.readline().strip() == "interrupted"
            ck = load_checkpoint(path)  # whenever we look, the file is complete
            seed = ck.extra["seed"]
            assert all(torch.equal(v, weights[seed][k]) for k, v in ck.model.state_dict().items())
        out = proc.stdout.readline()  # not communicate(): it skips what readline has buffered
        proc.wait(timeout=60)
    finally:
        proc.kill()
    saves, interrupts, in_save = map(int, out.split())
    assert proc.returncode == 0 and interrupts == wanted
    assert in_save >= wanted // 2  # most interrupts did land inside a save
    assert load_checkpoint(path).extra["seed"] in (0, 1)
    assert files_in(tmp_path) == ["m.pt"]  # every interrupted save removed its temporary file


# --- loading: validate everything before touching the model -------------------------------


def _v1_digest(state_dict: dict) -> str:
    """The first format's checksum: SHA-256 over the weights only (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


_V1_KEYS = {GPT.TOKEN_TABLE: "tok_emb.weight", GPT.POSITION_TABLE: "pos_emb.weight"}
_V1_FIELDS = {"d_model": "emb_dim", "num_heads": "n_heads", "num_layers": "n_layers"}


def save_v1(path: Path, model: GPT, tokenizer, extra=None, tokenizer_dict=None, drop=None):
    """Write ``model`` the way the first checkpoint format did.

    Version 1: the model's parameters under their old names (``tok_emb``,
    ``pos_emb``), a tied output head left out, the config under its old field
    names, the tokenizer as its save file's text, a SHA-256 of the weights only.
    ``tokenizer_dict`` and ``drop`` (a key to leave out) make damaged files.
    """
    state_dict = {_V1_KEYS.get(k, k): v.detach().cpu() for k, v in model.state_dict().items()}
    if model.config.tie_weights:
        state_dict.pop("out_head.weight")
    if drop is not None:
        state_dict.pop(drop)
    if tokenizer_dict is None and isinstance(tokenizer, CharTokenizer):
        tokenizer_dict = {"kind": "char", "data": tokenizer.chars}
    elif tokenizer_dict is None:
        tokenizer.save(path.with_suffix(".bpe"))
        tokenizer_dict = {"kind": "bpe", "data": path.with_suffix(".bpe").read_text("utf-8")}
    payload = {
        "format": "llm101-gpt",
        "version": 1,
        "config": {_V1_FIELDS.get(k, k): v for k, v in model.config.to_dict().items()},
        "tokenizer": tokenizer_dict,
        "state_dict": state_dict,
        "sha256": _v1_digest(state_dict),
        "extra": dict(extra or {}),
    }
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_first_format_checkpoints_still_load(tmp_path, bpe, tie, kind):
    tok = bpe if kind == "bpe" else CharTokenizer.train("the sea the sky")
    torch.manual_seed(3)
    model = GPT(GPTConfig.preset("tiny", vocab_size=tok.vocab_size, tie_weights=tie)).eval()
    path = save_v1(tmp_path / "old.pt", model, tok, extra={"steps": 5})
    assert "tok_emb.weight" in torch.load(path, weights_only=True)["state_dict"]
    ck = load_checkpoint(path)
    ids = torch.tensor([tok.encode("the sea the sky")])
    torch.testing.assert_close(ck.model(ids), model(ids), rtol=0, atol=0)
    assert ck.config == model.config and ck.extra == {"steps": 5}
    assert ck.tokenizer.encode("the sky") == tok.encode("the sky")
    # a first-format file saved again is a current one, with the same content
    again = load_checkpoint(save_checkpoint(tmp_path / "new.pt", ck.model, ck.tokenizer, ck.extra))
    assert torch.load(tmp_path / "new.pt", weights_only=True)["version"] == 2
    assert content(again) == content(ck)


def _damaged_bpe(bpe) -> dict:
    lines = bpe.dumps().splitlines()
    lines[-2] = "999 1 2  # a merge edited by hand"
    return {"kind": "bpe", "data": "\n".join(lines) + "\n"}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("bpe", r"the BPE tokenizer stored in .*bad.pt failed its checksum"),
        ("char", r"bad.pt: the stored character tokenizer: .*distinct characters"),
        ("large tokenizer", r"the tokenizer has 266 tokens but the model only 100"),
        ("missing weight", r"do not fit the stored config \(missing \['final_norm.bias'\]"),
        ("unknown kind", r"unknown tokenizer kind 'wordpiece'"),
    ],
)
def test_a_failing_load_leaves_the_given_model_untouched(tmp_path, bpe, damage, message):
    # first-format files: their checksum covers the weights only, so these parts load unchecked
    vocab = 100 if damage == "large tokenizer" else bpe.vocab_size
    source = small_model(0, vocab_size=vocab)
    tokenizer_dict = {
        "bpe": _damaged_bpe(bpe),
        "unknown kind": {"kind": "wordpiece", "data": "x"},
        "char": {"kind": "char", "data": "aab"},
    }.get(damage)
    drop = "final_norm.bias" if damage == "missing weight" else None
    path = save_v1(tmp_path / "bad.pt", source, bpe, tokenizer_dict=tokenizer_dict, drop=drop)
    target = small_model(1, vocab_size=vocab)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path, model=target)
    assert str(path) in str(info.value)
    assert "tmp" not in str(info.value).replace(str(tmp_path), "")  # no temporary file named
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items())


# --- the checkpoints the repository ships ---------------------------------------------------


def test_shipped_checkpoint_is_the_local_file_or_a_verified_download(tmp_path, monkeypatch):
    import urllib.request

    from llm101_helpers import GIT_URL
    from llm101_helpers.training import shipped_checkpoint

    local = tmp_path / "clone"
    local.mkdir()
    (local / "a.pt").write_bytes(b"x")
    assert shipped_checkpoint("a.pt", folder=local) == local / "a.pt"  # a clone: no download

    source = save_checkpoint(tmp_path / "src.pt", small_model(0), CharTokenizer("abcdefgh"), EXTRA)
    asked = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def urlopen(url, timeout):
        asked.append(url)
        return Response(source.read_bytes())

    monkeypatch.setenv("LLM101_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    got = shipped_checkpoint("poet.pt", folder=tmp_path / "elsewhere")
    assert asked == [f"{GIT_URL}/raw/main/notebooks/checkpoints/poet.pt"]
    assert got == tmp_path / "cache" / "checkpoints" / "poet.pt"
    assert content(load_checkpoint(got)) == content(load_checkpoint(source))
    assert shipped_checkpoint("poet.pt", folder=tmp_path / "elsewhere") == got and len(asked) == 1

    def offline(url, timeout):
        raise OSError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(OSError, match=r"other\.pt is not in .* downloading it from .* no network"):
        shipped_checkpoint("other.pt", folder=tmp_path / "elsewhere")
    assert not (tmp_path / "cache" / "checkpoints" / "other.pt").exists()
