"""The command line's pretraining and fine-tuning options.

Several corpora (each split by characters, joined with a separator), a tokenizer
reused from a checkpoint, a run started from a checkpoint's weights (``--init-from``),
frozen parameters (``--train-only``), and a stored command without machine paths.
The corpora are small stand-ins (``cli.load_text`` is replaced) so every run takes
a second or less.
"""

from __future__ import annotations

import shlex

import pytest
import torch

from llm101_helpers.model import GPT, GPTConfig
from llm101_helpers.tokenizers import ENDOFTEXT, BPETokenizer, CharTokenizer
from llm101_helpers.training import cli, evaluate, load_checkpoint, main, save_checkpoint
from llm101_helpers.training import distributed as dp

POEMS = "".join(f"line {i} of the poem, a rose is red\n" for i in range(120))
SONNETS = "".join(f"Sonnet {i}: shall I compare thee? Q\n" for i in range(80))
CORPORA = {"poems": POEMS, "sonnets": SONNETS, "tinyshakespeare": "KING:\nZounds!\n" * 200}
FAST = ["--config=tiny", "--max-iters=4", "--eval-interval=2", "--eval-iters=2",
        "--batch-size=4", "--warmup-iters=0", "--no-progress"]  # fmt: skip


@pytest.fixture(autouse=True)
def small_corpora(monkeypatch):
    """``cli.load_text`` serves the stand-ins and records what was read."""
    read: list[str] = []

    def load_text(name: str) -> str:
        read.append(name)
        return CORPORA[name]

    monkeypatch.setattr(cli, "load_text", load_text)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield read
    torch.set_num_threads(before)


def _by_hand_split(text: str) -> tuple[str, str]:
    """90% of the characters, moved forward to the next line start (every line ends in \\n)."""
    cut = int(len(text) * 0.9)
    cut = text.index("\n", cut - 1) + 1
    return text[:cut], text[cut:]


# --- several corpora ---------------------------------------------------------------


def test_split_text_starts_validation_at_a_line_start():
    # 10 lines of 34 characters, 90 of 35, 20 of 36: 4,210; 90% is 3,789, inside line 108
    # (characters 3,778 to 3,814), so validation starts with line 109
    train, val = cli.split_text(POEMS, 0.1)
    assert len(POEMS) == 4210 and train + val == POEMS
    assert val.startswith("line 109 of") and len(val) == 11 * 36


def test_corpora_are_split_each_and_joined_with_blank_lines_or_endoftext():
    char = CharTokenizer.train(POEMS + SONNETS)
    train, val = cli.encode_corpora([POEMS, SONNETS], char, 0.1)
    (p_train, p_val), (s_train, s_val) = _by_hand_split(POEMS), _by_hand_split(SONNETS)
    enc = char.encode
    assert train.tolist() == enc(p_train) + enc("\n\n\n") + enc(s_train)
    assert val.tolist() == enc(p_val) + enc("\n\n\n") + enc(s_val)

    bpe = BPETokenizer.train(POEMS + SONNETS, vocab_size=270, special_tokens=[ENDOFTEXT])
    train, val = cli.encode_corpora([POEMS, SONNETS], bpe, 0.1)
    eot = bpe.special_tokens[ENDOFTEXT]
    assert train.tolist() == bpe.encode(p_train) + [eot] + bpe.encode(s_train)
    assert val.tolist() == bpe.encode(p_val) + [eot] + bpe.encode(s_val)


def test_several_corpora_are_all_read_and_trained_on(tmp_path, small_corpora, capsys):
    out = tmp_path / "pre.pt"
    main(["--corpus", "sonnets", "tinyshakespeare", "--corpus=poems", "--tokenizer=char",
          *FAST, f"--out={out}"])  # fmt: skip
    assert small_corpora == ["sonnets", "tinyshakespeare", "poems"]
    total = sum(map(len, CORPORA.values()))
    assert (
        f"corpus sonnets + tinyshakespeare + poems: {total:,} characters" in capsys.readouterr().out
    )
    ck = load_checkpoint(out)
    assert {"Q", "Z", "K", "?"} <= set(ck.tokenizer.chars)  # a character of each corpus
    assert ck.extra["corpus"] == "sonnets tinyshakespeare poems"


def test_a_corpus_named_twice_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--corpus", "poems", "sonnets", "--corpus", "poems"])
    assert capsys.readouterr().err == "error: --corpus names poems more than once\n"


# --- starting from a checkpoint ----------------------------------------------------


@pytest.fixture
def pretrained(tmp_path):
    """A tiny GPT with weights of its own (seed 7) and a character tokenizer, saved."""
    tokenizer = CharTokenizer.train(POEMS + SONNETS)
    torch.manual_seed(7)
    model = GPT(GPTConfig.preset("tiny", vocab_size=tokenizer.vocab_size))
    path = tmp_path / "pre.pt"
    save_checkpoint(path, model, tokenizer, extra={"command": "made by a test"})
    return path


def test_init_from_starts_from_the_checkpoints_weights(pretrained, tmp_path):
    ck = load_checkpoint(pretrained)
    _, val_text = _by_hand_split(POEMS)
    expected = evaluate(ck.model, torch.tensor(ck.tokenizer.encode(val_text)), 4, 2)
    run = main(["--corpus=poems", *FAST, f"--init-from={pretrained}", f"--out={tmp_path / 'a.pt'}"])
    assert run["history"].val_loss[0] == pytest.approx(expected, rel=1e-6)
    fresh = main(["--corpus=poems", "--tokenizer-from", str(pretrained), *FAST,
                  f"--out={tmp_path / 'b.pt'}"])  # fmt: skip
    assert fresh["history"].val_loss[0] != pytest.approx(expected, rel=1e-3)  # not the same start
    assert load_checkpoint(tmp_path / "b.pt").tokenizer.chars == ck.tokenizer.chars


def _fails(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_init_from_refuses_another_model_shape_naming_the_fields(pretrained, capsys, small_corpora):
    err = _fails(["--config=small", f"--init-from={pretrained}"], capsys)
    assert "--init-from" in err and "holds another model shape" in err
    assert "d_model: checkpoint 32, --config small 128" in err
    assert "context_length: checkpoint 32, --config small 64" in err
    assert "dropout" not in err  # a training setting, free to change
    assert small_corpora == []  # refused before any corpus was read


def test_a_reused_tokenizer_excludes_the_tokenizer_options(pretrained, capsys):
    err = _fails([f"--init-from={pretrained}", "--vocab-size=300"], capsys)
    assert "drop --vocab-size" in err
    err = _fails([f"--init-from={pretrained}", f"--tokenizer-from={pretrained}"], capsys)
    assert "drop --tokenizer-from" in err
    assert "no such file" in _fails(["--init-from=missing.pt"], capsys).lower()


# --- training only some parameters -------------------------------------------------


@pytest.mark.parametrize("resumable", [[], ["--resumable"]])
@pytest.mark.parametrize("train_only", ["head", "last-1"])
def test_train_only_leaves_every_other_parameter_bit_identical(pretrained, tmp_path, train_only,
                                                               resumable):  # fmt: skip
    out = tmp_path / "ft.pt"
    main(["--corpus=poems", *FAST, "--lr=0.01", f"--init-from={pretrained}",
          f"--train-only={train_only}", *resumable, f"--out={out}"])  # fmt: skip
    before, after = load_checkpoint(pretrained).model, load_checkpoint(out).model
    trained = ("final_norm.", "out_head.") + (("blocks.1.",) if train_only == "last-1" else ())
    for name, w in before.state_dict().items():
        if name.startswith(trained):
            assert not torch.equal(after.state_dict()[name], w), name
        else:
            assert torch.equal(after.state_dict()[name], w), name


def test_freeze_counts_what_trains():
    model = GPT(GPTConfig.preset("tiny", vocab_size=50))
    head = 2 * 32 + 32 * 50  # final norm, output layer
    assert cli.freeze(model, "head") == head
    block = sum(p.numel() for p in model.blocks[1].parameters())
    assert cli.freeze(model, "last-1") == head + block
    assert cli.freeze(model, "all") == model.num_parameters()
    with pytest.raises(ValueError, match="the model has only 2 blocks"):
        cli.freeze(model, "last-3")


BAD_TRAIN_ONLY = [("tail", "must be all, head or last-N, got 'tail'"),
                  ("last-3", "the model has only 2 blocks")]  # fmt: skip


@pytest.mark.parametrize(("value", "message"), BAD_TRAIN_ONLY)
def test_a_bad_train_only_is_refused_before_any_work(value, message, capsys, small_corpora):
    assert message in _fails(["--config=tiny", f"--train-only={value}"], capsys)
    assert small_corpora == []


def test_a_fine_tuning_run_stopped_and_resumed_ends_as_an_uninterrupted_one(
    pretrained, tmp_path, monkeypatch, capsys
):
    args = ["--corpus=poems", "--config=tiny", "--max-iters=12", "--eval-interval=4",
            "--eval-iters=1", "--batch-size=4", "--dropout=0.1", "--no-progress", "--resumable",
            f"--init-from={pretrained}", "--train-only=last-1", "--lr=3e-3"]  # fmt: skip
    straight = tmp_path / "straight.pt"
    main([*args, f"--out={straight}"])
    out, real_step, calls = tmp_path / "stopped.pt", dp._step, []

    def ctrl_c_at_step_7(*a):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real_step(*a)

    monkeypatch.setattr(dp, "_step", ctrl_c_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        main([*args, f"--out={out}"])
    monkeypatch.setattr(dp, "_step", real_step)  # (undo() would bring back the corpora)
    assert load_checkpoint(out).extra["resume"]["step"] == 4
    main([*args, f"--out={out}", f"--resume={out}"])
    a, b = load_checkpoint(straight), load_checkpoint(out)
    assert a.extra["val_loss"] == b.extra["val_loss"]
    for name, w in a.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[name], w), name
    other = [a.replace("last-1", "head") for a in args]
    err = _fails([*other, f"--out={out}", f"--resume={out}"], capsys)
    assert "train_only: checkpoint 'last-1', now 'head'" in err


# --- the stored command ------------------------------------------------------------


def test_the_stored_command_has_no_machine_paths(pretrained, tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "runs").mkdir(parents=True)
    monkeypatch.chdir(work)
    argv = ["--corpus", "poems", *FAST, "--init-from", str(pretrained),
            f"--out={work / 'runs' / 'ft.pt'}"]  # fmt: skip
    main(argv)
    command = load_checkpoint(work / "runs" / "ft.pt").extra["command"]
    expected = ["python", "-m", "llm101_helpers.training", "--corpus", "poems", *FAST,
                "--init-from", "pre.pt", "--out=runs/ft.pt"]  # fmt: skip
    assert shlex.split(command) == expected  # inside the working directory: relative to it,
    assert str(tmp_path) not in command and " /" not in command  # outside: the file's name


# --- keeping the best evaluation (early stopping) -----------------------------------


def test_keep_best_keeps_the_evaluation_with_the_lowest_validation_loss(tmp_path, capsys):
    out = tmp_path / "best.pt"
    # a learning rate far too high: the validation loss goes down, then up again
    run = main(["--corpus=poems", "--tokenizer=char", "--config=tiny", "--max-iters=24",
                "--eval-interval=2", "--eval-iters=2", "--batch-size=4", "--warmup-iters=0",
                "--lr=0.2", "--no-progress", "--keep-best", f"--out={out}"])  # fmt: skip
    history = run["history"]
    best = min(range(len(history.val_loss)), key=history.val_loss.__getitem__)
    assert 0 < best < len(history.val_loss) - 1, "the test needs a minimum inside the run"
    ck = load_checkpoint(out)
    assert ck.extra["steps"] == history.eval_steps[best]
    assert ck.extra["val_loss"] == run["val_loss"] == history.val_loss[best]
    assert ck.extra["kept"].startswith("lowest validation loss")
    assert f"kept the checkpoint of step {history.eval_steps[best]}:" in capsys.readouterr().out
    # the kept weights are those that scored it: evaluated again the same way, the same loss
    _, val_text = _by_hand_split(POEMS)
    val_ids = torch.tensor(ck.tokenizer.encode(val_text))
    assert evaluate(ck.model, val_ids, 4, 2) == pytest.approx(history.val_loss[best], rel=1e-5)


def test_keep_best_is_refused_with_resumable_runs(capsys):
    err = _fails(["--corpus=poems", *FAST, "--keep-best", "--resumable"], capsys)
    assert "--keep-best" in err


def test_a_fine_tuned_checkpoint_lists_every_corpus_its_weights_saw(tmp_path):
    pre = tmp_path / "pre.pt"
    main(["--corpus", "tinyshakespeare", "sonnets", "--vocab-size=300", *FAST, f"--out={pre}"])
    assert cli.corpora_seen(load_checkpoint(pre).extra) == ["tinyshakespeare", "sonnets"]
    tuned = tmp_path / "tuned.pt"
    main(["--corpus=poems", *FAST, f"--init-from={pre}", f"--out={tuned}"])
    ck = load_checkpoint(tuned)
    assert ck.extra["corpus"] == "poems"
    assert cli.corpora_seen(ck.extra) == ["tinyshakespeare", "sonnets", "poems"]
    # a checkpoint from before the list: its own corpus
    assert cli.corpora_seen({"corpus": "sonnets poems"}) == ["sonnets", "poems"]


def test_tokenizer_corpus_trains_the_tokenizer_on_other_corpora(tmp_path, small_corpora):
    out = tmp_path / "pre.pt"
    main(["--corpus", "sonnets", "--tokenizer-corpus", "sonnets", "poems", "--tokenizer=char",
          *FAST, f"--out={out}"])  # fmt: skip
    ck = load_checkpoint(out)
    assert ck.tokenizer.chars == CharTokenizer.train(SONNETS + "\n\n\n" + POEMS).chars
    assert set(POEMS) - set(SONNETS), "the test needs characters only the poems have"
    assert ck.extra["corpus"] == "sonnets" and cli.corpora_seen(ck.extra) == ["sonnets"]
    bpe = tmp_path / "bpe.pt"
    main(["--corpus=sonnets", "--tokenizer-corpus=poems", "--vocab-size=300", *FAST,
          f"--out={bpe}"])  # fmt: skip
    assert load_checkpoint(bpe).tokenizer.merges == BPETokenizer.train(POEMS, 300).merges


def test_tokenizer_corpus_is_refused_with_a_reused_tokenizer_or_twice(pretrained, capsys):
    err = _fails(["--corpus=poems", "--tokenizer-corpus=sonnets", f"--init-from={pretrained}"],
                 capsys)  # fmt: skip
    assert "drop --tokenizer-corpus" in err
    err = _fails(["--corpus=poems", "--tokenizer-corpus", "poems", "poems"], capsys)
    assert err == "error: --tokenizer-corpus names poems more than once\n"
