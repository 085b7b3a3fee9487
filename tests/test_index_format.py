"""Index format version 2 (minilm_np/retrieval/index_format.py): lazy string columns, the manifest and its
checksums, and atomic writes that leave an existing index untouched when a build dies."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import TEXTS, FakeEmbedder

from minilm_np.retrieval import IndexFormatError, build_index, load_index
from minilm_np.retrieval import index_format
from minilm_np.retrieval.corpus import corpus_from_texts
from minilm_np.retrieval.index_format import (
    MANIFEST_FILE,
    IndexWriter,
    StringColumn,
    corpus_digest,
    read_manifest,
    verify_files,
)


@pytest.fixture
def index():
    return build_index(FakeEmbedder(), corpus_from_texts(TEXTS))


def snapshot(directory):
    """Every file's bytes, by name."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# --------------------------------------------------------------------------------------------------
# String columns
# --------------------------------------------------------------------------------------------------

def test_string_columns_round_trip_any_text(tmp_path):
    strings = ["", "plain", "naïve café", "北京", "emoji 🙂", "line\nbreak\ttab", "\x00nul", "", "last"]
    with IndexWriter(tmp_path / "idx", count=len(strings)) as w:
        w.put(np.arange(len(strings)), np.eye(len(strings), 4, dtype=np.float32) + 1e-3)
        w.add_passages([str(i) for i in range(len(strings))], strings)
        w.commit(embedder="e", corpus={}, shards=[])
    texts = load_index(tmp_path / "idx").texts
    assert isinstance(texts, StringColumn) and len(texts) == len(strings)
    assert list(texts) == strings and texts == strings and texts != strings[:-1]
    assert texts[np.int64(3)] == "北京" and texts[-1] == "last" and texts[2:4] == strings[2:4]
    with pytest.raises(IndexError, match="out of range"):
        texts[len(strings)]


def test_the_manifest_describes_the_index(tmp_path, index):
    index.save(tmp_path / "idx")
    manifest = read_manifest(tmp_path / "idx")
    assert manifest["format"] == "minilm-np-index" and manifest["version"] == 2
    assert (manifest["count"], manifest["dim"], manifest["embedder"]) == (len(index), index.dim, "fake-embedder")
    assert manifest["corpus"] == {"passages": len(index), "sha256": corpus_digest(index.ids, index.texts)}
    assert manifest["shards"] == [{"shard": "0/1", "start": 0, "stop": len(index)}]
    assert sorted(manifest["files"]) == ["embeddings.npy", "ids.offsets.npy", "ids.utf8", "texts.offsets.npy",
                                         "texts.utf8"]
    assert manifest["ann"] is None and manifest["created"].endswith("Z")
    verify_files(tmp_path / "idx")  # the checksums match


def test_a_corrupted_file_fails_verification(tmp_path, index):
    index.save(tmp_path / "idx")
    with open(tmp_path / "idx" / "texts.utf8", "r+b") as f:
        f.write(b"X")
    load_index(tmp_path / "idx")  # opening reads no data, so it does not notice
    with pytest.raises(IndexFormatError, match="texts.utf8: does not match its checksum"):
        load_index(tmp_path / "idx", verify=True)


def test_truncated_columns_are_refused_at_open(tmp_path, index):
    index.save(tmp_path / "idx")
    data = (tmp_path / "idx" / "ids.utf8").read_bytes()
    (tmp_path / "idx" / "ids.utf8").write_bytes(data[:-1])
    with pytest.raises(IndexFormatError, match="ids.utf8 holds"):
        load_index(tmp_path / "idx")
    (tmp_path / "idx" / "ids.utf8").unlink()
    with pytest.raises(IndexFormatError, match="ids.utf8 is missing"):
        load_index(tmp_path / "idx")


@pytest.mark.parametrize("name", ["embeddings.npy", "texts.offsets.npy"])
@pytest.mark.parametrize("damage, numpy_says", [(lambda data: b"", "EOFError"),  # an empty file
                                                (lambda data: data[:20] + b"(" + data[21:], "")])  # its header
def test_a_damaged_npy_file_is_an_index_format_error(tmp_path, index, name, damage, numpy_says):
    index.save(tmp_path / "idx")
    path = tmp_path / "idx" / name
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(IndexFormatError, match=f"{name}: cannot be read as a .npy array \\({numpy_says}"):
        load_index(tmp_path / "idx")


def test_a_string_damaged_after_writing_is_an_index_format_error_naming_it(tmp_path):
    strings = ["first", "café", "last"]
    with IndexWriter(tmp_path / "idx", count=3) as w:
        w.put(np.arange(3), np.eye(3, 4, dtype=np.float32) + 1e-3)
        w.add_passages(["1", "2", "3"], strings)
        w.commit(embedder="e", corpus={}, shards=[])
    data = bytearray((tmp_path / "idx" / "texts.utf8").read_bytes())
    data[data.index("é".encode()) + 1] = 0x41  # the second byte of é: no longer UTF-8
    (tmp_path / "idx" / "texts.utf8").write_bytes(bytes(data))
    texts = load_index(tmp_path / "idx").texts  # opening reads no text
    assert texts[0] == "first" and texts[2] == "last"
    for read in (lambda: texts[1], lambda: list(texts)):
        with pytest.raises(IndexFormatError, match=r"texts.utf8: string 1 \(bytes 5-10\) is not valid UTF-8"):
            read()


def test_corpus_digest_tells_passages_apart():
    assert corpus_digest(["1"], ["ab"]) == corpus_digest(["1"], ["ab"])
    assert corpus_digest(["1"], ["ab"]) != corpus_digest(["1a"], ["b"])  # delimited, not concatenated
    assert corpus_digest(["1", "2"], ["a", "b"]) != corpus_digest(["2", "1"], ["b", "a"])  # order counts


# --------------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------------

def test_an_exception_mid_write_leaves_the_old_index_untouched(tmp_path, index):
    index.save(tmp_path / "idx")
    before = snapshot(tmp_path / "idx")
    with pytest.raises(RuntimeError, match="injected"):
        with IndexWriter(tmp_path / "idx", count=10) as w:
            w.put(np.arange(5), np.ones((5, 3), np.float32))
            raise RuntimeError("injected")
    assert snapshot(tmp_path / "idx") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # the partial directory is gone
    assert load_index(tmp_path / "idx").ids == index.ids


def test_a_commit_replaces_an_index_in_one_step(tmp_path, index):
    index.save(tmp_path / "idx")
    (tmp_path / "plain").mkdir()
    assert (tmp_path / "idx").stat().st_mode == (tmp_path / "plain").stat().st_mode  # the umask's, not 0700
    (tmp_path / "plain").rmdir()
    old = load_index(tmp_path / "idx")  # keeps its files mapped
    smaller = build_index(FakeEmbedder(), corpus_from_texts(TEXTS[:2]))
    smaller.save(tmp_path / "idx")
    assert len(load_index(tmp_path / "idx")) == 2
    assert old.texts == TEXTS and np.asarray(old.embeddings).shape == (len(TEXTS), index.dim)  # still readable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_an_incomplete_write_cannot_commit(tmp_path):
    with IndexWriter(tmp_path / "idx", count=3) as w:
        w.put(np.array([0, 2]), np.ones((2, 4), np.float32))
        with pytest.raises(ValueError, match="written twice"):
            w.put(np.array([2]), np.ones((1, 4), np.float32))
        w.add_passages(["a", "b", "c"], ["x", "y", "z"])
        with pytest.raises(ValueError, match="1 of 3 rows were never written"):
            w.commit(embedder="e", corpus={}, shards=[])
        w.abort()
    assert not (tmp_path / "idx").exists()


def test_a_directory_that_is_not_an_index_is_never_replaced(tmp_path, index):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not a minilm-np index; refusing to replace it"):
        index.save(tmp_path / "home")
    assert (tmp_path / "home" / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    index.save(tmp_path / "empty")  # an empty directory is fine
    assert len(load_index(tmp_path / "empty")) == len(index)


KILLED_BUILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from minilm_np.retrieval.index_format import IndexWriter
    w = IndexWriter(sys.argv[1], count=1000)
    w.put(np.arange(500), np.ones((500, 8), np.float32))
    w.add_passages(["a"] * 10, ["b"] * 10)
    print(w.tmp, flush=True)
    time.sleep(60)
""")


def test_a_killed_build_leaves_the_old_index_and_nothing_loadable(tmp_path, index):
    index.save(tmp_path / "idx")
    before = snapshot(tmp_path / "idx")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(tmp_path / "idx")], stdout=subprocess.PIPE,
                            text=True)
    try:
        partial = proc.stdout.readline().strip()  # the build is under way, half written
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert partial and snapshot(tmp_path / "idx") == before
    assert load_index(tmp_path / "idx").texts == index.texts
    left = [p for p in tmp_path.iterdir() if p.name != "idx"]
    assert [p.name.startswith(".idx.partial-") for p in left] == [True]
    assert not (left[0] / MANIFEST_FILE).exists()
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        load_index(left[0])
    assert json.loads((tmp_path / "idx" / MANIFEST_FILE).read_text())["count"] == len(index)

    # The next build of idx on this host removes what the killed one left; a live process's partial
    # directory and another host's (a build in progress on a shared filesystem) stay.
    live = tmp_path / f".idx.partial-{index_format._HOST}-{os.getpid()}-live"
    elsewhere = tmp_path / f".idx.partial-otherhost-{proc.pid}-elsewhere"
    live.mkdir(), elsewhere.mkdir()
    index.save(tmp_path / "idx")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["idx", live.name, elsewhere.name])


def test_any_damage_to_any_file_is_an_index_format_error_or_a_working_index(tmp_path, index):
    """Files emptied, cut, flipped, extended or deleted at random (seeded): loading and searching either
    works (the damage is to bytes opening does not read, which verify=True checks) or raises one of the
    errors an unreadable index raises, naming a file; never numpy's or Python's own. Four kinds of damage
    escaped as EOFError, SyntaxError, TokenError or UnicodeDecodeError before."""
    from minilm_np.retrieval import embedding_search
    from helpers import FakeEmbedder

    index.save(tmp_path / "orig")
    names = sorted(p.name for p in (tmp_path / "orig").iterdir())
    rng = np.random.default_rng(0)
    for trial in range(60):
        d = tmp_path / f"t{trial}"
        shutil.copytree(tmp_path / "orig", d)
        target = d / names[rng.integers(len(names))]
        data = bytearray(target.read_bytes())
        how = ("empty", "cut", "flip", "extend", "delete")[rng.integers(5)]
        if how == "delete":
            target.unlink()
        else:
            if how == "empty":
                data = bytearray()
            elif how == "cut":
                data = data[:rng.integers(max(len(data), 1))]
            elif how == "flip" and data:
                for at in rng.integers(0, len(data), size=4):
                    data[at] = rng.integers(256)
            elif how == "extend":
                data += bytes(rng.integers(0, 256, size=16, dtype=np.uint8))
            target.write_bytes(bytes(data))
        try:
            loaded = load_index(d)
            hits = embedding_search(FakeEmbedder(), loaded, "berlin", top_k=3).hits
            assert [h.text for h in hits] and list(loaded.ids)
        except (IndexFormatError, FileNotFoundError) as e:
            assert str(d) in str(e), (how, target.name, e)
