import errno
import hashlib
import io
import os
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from llm101_helpers import data
from llm101_helpers.data import (
    CORPORA,
    CorpusIntegrityError,
    SlidingWindowDataset,
    create_dataloader,
    download_corpus,
    load_poem_records,
    load_poems,
    parse_poems,
)

SHARED_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mirror"


# --- the course's own corpus -------------------------------------------------


def test_parse_poems_reads_headers_and_bodies():
    raw = (
        "=== Rain | haiku | weather ===\nline one\nline two\n\n"
        "=== Sun | free verse | sky ===\nhot\n"
    )
    poems = parse_poems(raw)
    assert [(p.title, p.form, p.theme, p.text) for p in poems] == [
        ("Rain", "haiku", "weather", "line one\nline two"),
        ("Sun", "free verse", "sky", "hot"),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("=== Rain | haiku ===\nx\n", r"line 1: malformed poem header"),
        ("stray\n=== Rain | haiku | w ===\nx\n", r"line 1: text before the first poem header"),
        ("=== Rain | haiku | w ===\n\n=== B | haiku | w ===\nx\n", r"poem 'Rain' has no lines"),
    ],
)
def test_parse_poems_errors_name_the_problem(raw, message):
    with pytest.raises(ValueError, match=message):
        parse_poems(raw)


def test_corpus_is_large_and_varied():
    poems = load_poem_records()
    text = load_poems()
    assert len(poems) >= 150
    assert len(text.encode("utf-8")) >= 60_000
    forms = {p.form for p in poems}
    for form in ("sonnet", "ballad", "haiku", "free verse", "limerick", "song"):
        assert form in forms, form
    titles = [p.title for p in poems]
    assert len(titles) == len(set(titles)), "poem titles must be unique"


def test_load_poems_joins_every_poem():
    poems = load_poem_records()
    text = load_poems()
    assert text.count("\n\n\n") == len(poems) - 1
    assert text.startswith(poems[0].title + "\n\n" + poems[0].text)
    assert "===" not in text


def test_datasheet_counts_match_the_corpus():
    """data/README.md states the counts; they must be the corpus's real counts."""
    readme = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text("utf-8")
    poems = load_poem_records()
    lines = sum(len([ln for ln in p.text.splitlines() if ln.strip()]) for p in poems)
    words = sum(len(p.text.split()) for p in poems)
    raw_bytes = (Path(__file__).resolve().parents[1] / "data" / "poems.txt").stat().st_size
    for figure in (f"{len(poems):,}", f"{lines:,}", f"{words:,}", f"{raw_bytes:,}"):
        assert figure in readme, f"datasheet does not state {figure}"


# --- public-domain corpora on demand -----------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(folder))
    return folder


def _fake_mirror(tmp_path: Path, name: str, payload: bytes) -> Path:
    mirror = tmp_path / "mirror"
    mirror.mkdir(exist_ok=True)
    (mirror / f"{name}.txt").write_bytes(payload)
    return mirror


@pytest.mark.skipif(
    not SHARED_MIRROR.is_dir(), reason="../shared/data/mirror is not beside the checkout"
)
@pytest.mark.parametrize("name", sorted(CORPORA))
def test_download_from_the_shared_mirror(name, cache, monkeypatch):
    monkeypatch.setenv(data.MIRROR_ENV_VAR, str(SHARED_MIRROR))
    path = download_corpus(name)
    raw = path.read_bytes()
    assert path.parent == cache
    assert len(raw) == CORPORA[name].size
    assert hashlib.sha256(raw).hexdigest() == CORPORA[name].sha256
    # The second call is served from the cache: it works with the mirror gone.
    monkeypatch.setenv(data.MIRROR_ENV_VAR, str(cache / "nowhere"))
    assert download_corpus(name) == path


def test_corrupted_mirror_file_is_rejected_and_nothing_is_cached(tmp_path, cache, monkeypatch):
    mirror = _fake_mirror(tmp_path, "sonnets", b"FROM fairest creatures we desire increase,\n")
    monkeypatch.setenv(data.MIRROR_ENV_VAR, str(mirror))
    with pytest.raises(CorpusIntegrityError) as info:
        download_corpus("sonnets")
    message = str(info.value)
    assert CORPORA["sonnets"].url in message
    assert CORPORA["sonnets"].sha256 in message
    assert "nothing was cached" in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_missing_mirror_file_is_a_clear_error(tmp_path, cache, monkeypatch):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setenv(data.MIRROR_ENV_VAR, str(empty))
    with pytest.raises(FileNotFoundError, match=r"holds no 'tinyshakespeare.txt'.*86c4e6aa"):
        download_corpus("tinyshakespeare")
    assert not cache.exists() or list(cache.iterdir()) == []


def test_unknown_corpus_lists_the_known_ones(cache):
    with pytest.raises(KeyError, match="unknown corpus 'poems'.*sonnets, tinyshakespeare"):
        download_corpus("poems")


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _patch_network(monkeypatch, name: str, payload: bytes | Exception) -> list[str]:
    requested: list[str] = []
    source = CORPORA[name]
    monkeypatch.setitem(
        CORPORA,
        name,
        data.CorpusSource(
            source.url,
            len(payload) if isinstance(payload, bytes) else 1,
            hashlib.sha256(b"good").hexdigest(),
            source.description,
        ),
    )

    def urlopen(url, timeout):
        requested.append(url)
        if isinstance(payload, Exception):
            raise payload
        return _FakeResponse(payload)

    monkeypatch.delenv(data.MIRROR_ENV_VAR, raising=False)
    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    return requested


def test_network_download_is_verified_and_cached_atomically(cache, monkeypatch):
    requested = _patch_network(monkeypatch, "sonnets", b"good")
    path = download_corpus("sonnets")
    assert requested == [CORPORA["sonnets"].url]
    assert path.read_bytes() == b"good"
    assert sorted(os.listdir(cache)) == ["sonnets.txt"]  # no temporary files left


def test_network_download_with_wrong_bytes_leaves_nothing(cache, monkeypatch):
    _patch_network(monkeypatch, "sonnets", b"evil")
    with pytest.raises(CorpusIntegrityError, match="failed its integrity check"):
        download_corpus("sonnets")
    assert not cache.exists() or list(cache.iterdir()) == []


def test_network_failure_names_the_url_and_the_mirror_variable(cache, monkeypatch):
    _patch_network(monkeypatch, "sonnets", urllib.error.URLError("no route to host"))
    with pytest.raises(
        ConnectionError, match=r"from https://raw\.githubusercontent\.com/.*LLM101_DATA_MIRROR"
    ):
        download_corpus("sonnets")


def test_a_tampered_cache_file_is_fetched_again(tmp_path, cache, monkeypatch):
    requested = _patch_network(monkeypatch, "sonnets", b"good")
    cache.mkdir(parents=True)
    (cache / "sonnets.txt").write_bytes(b"tampered")
    assert download_corpus("sonnets").read_bytes() == b"good"
    assert len(requested) == 1


# --- the cache folder: permissions ------------------------------------------------


def _cannot_write(folder: Path) -> bool:
    """Whether this process really cannot create a file in ``folder`` (root can anyway)."""
    try:
        (folder / ".probe").touch()
    except PermissionError:
        return True
    (folder / ".probe").unlink()
    return False


def test_a_read_only_cache_folder_names_the_folder_and_the_variable(cache, monkeypatch):
    _patch_network(monkeypatch, "sonnets", b"good")
    cache.mkdir(parents=True)
    cache.chmod(0o500)
    try:
        if not _cannot_write(cache):
            pytest.skip("this user can write to a read-only folder (root)")
        with pytest.raises(PermissionError) as info:
            download_corpus("sonnets")
    finally:
        cache.chmod(0o700)
    message = str(info.value)
    assert str(cache) in message and data.CACHE_ENV_VAR in message
    assert ".part" not in message
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), PermissionError),
        (OSError(errno.EROFS, "Read-only file system"), PermissionError),
        (OSError(errno.ENOSPC, "No space left on device"), OSError),
    ],
    ids=["denied", "read-only-fs", "disk-full"],
)
def test_an_unwritable_cache_folder_is_a_clear_error(cache, monkeypatch, err, expected):
    """The same message when creating the temporary file fails (as it does for root on a
    read-only file system, where chmod cannot stop it)."""
    _patch_network(monkeypatch, "sonnets", b"good")

    def refuse(path, *args, **kwargs):
        raise err

    monkeypatch.setattr(data.os, "open", refuse)
    with pytest.raises(OSError, match=rf"corpus cache folder {cache} \({err.strerror}\)") as info:
        download_corpus("sonnets")
    assert type(info.value) is expected
    assert data.CACHE_ENV_VAR in str(info.value)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_cached_corpora_respect_the_umask(cache, monkeypatch, umask, mode):
    _patch_network(monkeypatch, "sonnets", b"good")
    old = os.umask(umask)
    try:
        path = download_corpus("sonnets")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


# --- token ids must be integers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "shown"),
    [
        ([0.5, 1.7] * 10, r"a list of dtype torch.float32 \(first value 0.5\)"),
        ([1.0, 2.0] * 10, r"a list of dtype torch.float32 \(first value 1.0\)"),
        ([True, False] * 10, r"a list of dtype torch.bool \(first value True\)"),
        (torch.tensor([0.5, 1.7] * 10, dtype=torch.float64), r"a tensor of dtype torch.float64"),
        (np.array([0.5, 1.7] * 10), r"a NumPy array of dtype torch.float64"),
    ],
    ids=["floats", "whole-floats", "bools", "float-tensor", "numpy-floats"],
)
def test_float_or_bool_ids_are_refused_not_truncated(ids, shown):
    with pytest.raises(TypeError, match=rf"token ids must be integers, got {shown}"):
        SlidingWindowDataset(ids, context_length=4, stride=4)
    with pytest.raises(TypeError, match=rf"token ids must be integers, got {shown}"):
        create_dataloader(ids, context_length=4, stride=4, batch_size=1)


def test_integer_ids_of_any_integer_type_are_accepted():
    for ids in (list(range(20)), np.arange(20), torch.arange(20, dtype=torch.int32)):
        x, y = SlidingWindowDataset(ids, context_length=4, stride=4)[1]
        assert x.dtype == torch.long and x.tolist() == [4, 5, 6, 7] and y.tolist() == [5, 6, 7, 8]
