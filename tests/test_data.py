import hashlib
import io
import os
import urllib.error
from pathlib import Path

import pytest

from llm101_helpers import data
from llm101_helpers.data import (
    CORPORA,
    CorpusIntegrityError,
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
