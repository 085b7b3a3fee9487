"""What several test modules share: fixture locations, a writer of small random checkpoints, fake scorers
for retrieval and the CLI, and a small assembler for the pickles inside torch checkpoints. Test modules
import from here, never from each other or from conftest."""

from __future__ import annotations

import importlib.util
import pickle
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
BEIR = FIXTURES / "beir-cities"  # a small collection in BEIR's layout
REFERENCE = FIXTURES / "reference"
CRANFIELD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cranfield"
README = Path(__file__).resolve().parents[1] / "README.md"
TORCH_BIN = FIXTURES / "torch_bin"  # torch.save files and what they hold
ARCHS = FIXTURES / "archs"  # RoBERTa, XLM-R, ELECTRA, DistilBERT models and pipelines (make-arch-fixtures)
ARCH_INPUTS = ARCHS / "reference" / "inputs.json"

# The forward's element-wise kernels (minilm_np/model/kernels.py): parity tests run under each set.
HAS_NUMBA = importlib.util.find_spec("numba") is not None
NEEDS_NUMBA = pytest.mark.skipif(not HAS_NUMBA,
                                 reason='kernels="numba" needs the jit extra: pip install "minilm-np[jit]"')
KERNELS = ["numpy", pytest.param("numba", marks=NEEDS_NUMBA)]


def _blas_rows_alike() -> bool:
    """Whether NumPy's sgemm gives a row the same bits wherever it sits in a product and whatever rows share
    it, on one thread and on all. What makes a text's result independent of its batch bit for bit: the packed
    forward keeps each text's rows to itself (minilm_np/model/packed.py), the products are BLAS's.

    OpenBLAS's SkylakeX kernels treat every row alike. Its Haswell kernels do not everywhere: on an AMD EPYC
    (Zen 5) with OPENBLAS_CORETYPE=Haswell (OpenBLAS 0.3.31, 2026-12-01), a row's bits depend on its place
    modulo 6 and on whether it is among a product's last rows (by float32 rounding: about 1e-6 relative)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((203, 384)).astype(np.float32)  # [M, D] @ [D, F], the model's shapes
    w = rng.standard_normal((384, 1536)).astype(np.float32)

    def alike() -> bool:
        whole = a @ w
        return all(np.array_equal(a[s:s + m] @ w, whole[s:s + m]) for s in (0, 1, 5) for m in (2, 7, 50, 197))

    with threadpool_limits(1, user_api="blas"):
        one_thread = alike()
    return one_thread and alike()


BLAS_ROWS_ALIKE = _blas_rows_alike()


def assert_batch_invariant(a, b, atol: float) -> None:
    """a and b are one text's results from different batches (or thread counts): bit for bit where BLAS treats
    every row alike (``BLAS_ROWS_ALIKE``), elsewhere within ``atol``, the rounding of another row order."""
    a, b = np.asarray(a), np.asarray(b)
    if BLAS_ROWS_ALIKE:
        assert a.shape == b.shape and a.tobytes() == b.tobytes()
    else:
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)


def pipeline_dir(tmp_path: Path, variant: str) -> Path:
    """archs/models/bert-embedder with the sentence-transformers files of archs/pipelines/<variant> on top:
    the directory sentence-transformers saved that variant as."""
    import shutil

    d = tmp_path / variant
    shutil.copytree(ARCHS / "models" / "bert-embedder", d)
    shutil.copytree(ARCHS / "pipelines" / variant, d, dirs_exist_ok=True)
    return d


# --------------------------------------------------------------------------------------------------
# Small random checkpoints written by numpy alone, for loader and error tests.
# --------------------------------------------------------------------------------------------------

TINY_CONFIG = {
    "architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 40,
    "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 24,
    "max_position_embeddings": 32, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    "position_embedding_type": "absolute", "id2label": {"0": "LABEL_0"}, "pad_token_id": 0,
}
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + \
    ["the", "berlin", "city", "people", "live", "how", "many", "is", "##s"]


def make_checkpoint(directory: Path, config: dict | None = None, head: bool = True, prefix: str = "bert.",
                    rename=None, seed: int = 0) -> Path:
    """Write config.json, vocab.txt and a seeded random model.safetensors (names as a
    BertForSequenceClassification saves them, unless ``prefix``/``rename`` say otherwise)."""
    import json

    import numpy as np
    from safetensors.numpy import save_file

    from minilm_np.checkpoint.names import expected_shapes
    from minilm_np.model.config import BertConfig

    config = {**TINY_CONFIG, **(config or {})}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n")
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in expected_shapes(BertConfig.from_dict(config), head=head).items():
        stored = name if name.startswith("classifier.") else prefix + name
        if rename is not None:
            stored = rename(stored)
        a = rng.normal(0, 0.3, size=shape).astype(np.float32)
        if name.endswith("LayerNorm.weight"):
            a += 1
        tensors[stored] = a
    save_file(tensors, str(directory / "model.safetensors"))
    return directory


# --------------------------------------------------------------------------------------------------
# Fake scorers: predictable rankings without a model.
# --------------------------------------------------------------------------------------------------

WORDS = ["berlin", "paris", "people", "live", "city", "river", "france", "germany"]
TEXTS = [
    "Berlin is a city in Germany.",
    "Paris is the capital of France.",
    "About 3.5 million people live in Berlin.",
    "The Seine is a river in Paris.",
    "Germany has many people.",
    "Nothing relevant here.",
]


class FakeEmbedder:
    """Bag of words over WORDS, unit length: enough to make rankings predictable."""

    def __init__(self, name="fake-embedder", dim=None):
        self.name = name
        self.calls = []

    def encode(self, texts, batch_size=32, normalize=True, progress=None):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), len(WORDS)), dtype=np.float32)
        for i, t in enumerate(texts):
            tokens = t.lower().replace(".", " ").replace("?", " ").split()
            for j, w in enumerate(WORDS):
                out[i, j] = tokens.count(w)
            out[i, -1] += 0.01  # no zero vector
        if progress is not None:
            progress(len(texts))
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class FakeReranker:
    """Scores by the number of query words in the passage, preferring short passages. It "reads"
    ``MAX_CHARS`` characters at a time: in truncate mode a longer passage counts as cut, in the window modes
    as one window per ``MAX_CHARS`` (what ``return_details`` reports; the score does not change)."""

    name = "fake-reranker"
    MAX_CHARS = 200

    def __init__(self):
        self.seen = []
        self.long_passages = []  # the long_passages of each call

    def predict(self, pairs, batch_size=32, activation=None, progress=None, *, long_passages="truncate",
                stride=None, return_details=False):
        self.seen.extend(pairs)
        self.long_passages.append(long_passages)
        scores = []
        for q, p in pairs:
            qw = set(q.lower().replace("?", "").split())
            pw = p.lower().replace(".", "").split()
            scores.append(sum(w in qw for w in pw) - len(p) / 1000)
        if progress is not None:
            progress(len(pairs))
        scores = np.array(scores, dtype=np.float32)
        return self._details(pairs, scores, long_passages) if return_details else scores

    def _details(self, pairs, scores, long_passages):
        from minilm_np.text.windows import Prediction
        n, size = len(pairs), self.MAX_CHARS
        windows = [1 if long_passages == "truncate" else max(1, -(-len(p) // size)) for _, p in pairs]
        return Prediction(
            scores=scores, windows=np.array(windows, dtype=np.int64), best_window=np.zeros(n, dtype=np.int64),
            window_scores=[np.full(w, s, dtype=np.float32) for w, s in zip(windows, scores)],
            window_spans=[[(i * size, min(len(p), (i + 1) * size)) for i in range(w)]
                          for w, (_, p) in zip(windows, pairs)],
            truncated=np.array([long_passages == "truncate" and len(p) > size for _, p in pairs], dtype=bool),
            query_truncated=np.zeros(n, dtype=bool))

    def with_long_passages(self, long_passages, stride=None):
        from minilm_np.text.windows import LongPassageScorer
        return LongPassageScorer(self, long_passages, stride)

    def rank(self, query, documents, top_k=None, batch_size=32, activation=None, progress=None, *,
             long_passages="truncate", stride=None):
        """CrossEncoder.rank's answer: [{"corpus_id", "score", "text", and how it was read}] best first, ties
        in input order."""
        from minilm_np.validate import check_query

        check_query(query)
        d = self.predict([(query, doc) for doc in documents], batch_size, activation, progress,
                         long_passages=long_passages, stride=stride, return_details=True)
        order = np.argsort(-d.scores, kind="stable")[:top_k]
        return [{"corpus_id": int(i), "score": float(d.scores[i]), "text": documents[i], **d.row(i)} for i in order]


# --------------------------------------------------------------------------------------------------
# torch checkpoints: what the fixtures hold, and pickles torch would not write.
# --------------------------------------------------------------------------------------------------

def expected() -> tuple[dict[str, np.ndarray], set[str]]:
    with np.load(TORCH_BIN / "expected.npz") as z:
        arrays = {k: z[k] for k in z.files}
    bf16 = set(arrays.pop("__bf16__").tolist())
    return arrays, bf16


def assert_bitwise_equal(got: dict[str, np.ndarray], want: dict[str, np.ndarray], bf16: set[str]):
    assert list(got) == list(want)  # names as stored, in stored order
    for name, a in got.items():
        w = want[name]
        assert a.shape == w.shape, name
        assert a.dtype.str == w.dtype.str, name
        assert a.tobytes() == w.tobytes(), name
        assert bool(a.dtype.metadata and a.dtype.metadata.get("bfloat16")) == (name in bf16), name


# --------------------------------------------------------------------------------------------------
# A small assembler for the pickles torch writes (protocol 2), to build files torch would not.
# --------------------------------------------------------------------------------------------------

def op_global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def op_str(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_int(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def op_tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def op_storage(stype: str, key: str, numel: int, global_=None) -> bytes:
    """A persistent id ('storage', torch.<stype>, key, 'cpu', numel), as torch's zip layout writes it."""
    return op_tuple([op_str("storage"), global_ or op_global("torch", stype), op_str(key), op_str("cpu"),
                     op_int(numel)]) + b"Q"


def op_tensor(stype: str, key: str, numel: int, offset: int, size, stride) -> bytes:
    """_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""
    args = [op_storage(stype, key, numel), op_int(offset), op_tuple([op_int(n) for n in size]),
            op_tuple([op_int(n) for n in stride]), b"\x89", op_global("collections", "OrderedDict") + b")R"]
    return op_global("torch._utils", "_rebuild_tensor_v2") + op_tuple(args) + b"R"


def state_dict_pickle(entries: dict[str, bytes]) -> bytes:
    body = b"".join(op_str(name) + value + b"s" for name, value in entries.items())
    return b"\x80\x02}" + body + b"."


def write_torch_zip(path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None,
                    byteorder: str | None = None, prefix: str = "archive") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        if byteorder:
            z.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in (storages or {}).items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", "3\n")
    return path


def legacy_bytes(payload: bytes) -> bytes:
    """The legacy layout's three header pickles, then ``payload`` where the object pickle goes."""
    header = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    header += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    return header + payload


def fake_hub_cache(cache: Path, repo_id: str, files_from: Path, revision: str = "main",
                   commit: str = "0123456789abcdef0123456789abcdef01234567") -> Path:
    """A model in huggingface_hub's cache layout, models--org--name/{refs/<revision>, snapshots/<commit>/...},
    its files linked to ``files_from``'s (as the cache links them to its blobs); returns the snapshot."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in files_from.iterdir():
        (snap / f.name).symlink_to(f.resolve(), target_is_directory=f.is_dir())
    (repo / "refs").mkdir()
    (repo / "refs" / revision).write_text(commit)
    return snap


def readme_sections() -> dict[str, str]:
    """The README's level-2 sections, by heading line ("## Usage"), for the tests that run what it shows."""
    parts = re.split(r"^(## .*)$", README.read_text(encoding="utf-8"), flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def code_blocks(section: str, language: str) -> list[str]:
    """Each ```language block of a README ``section``."""
    return [m.group(1) for m in re.finditer(f"```{language}\n(.*?)```", section, re.S)]


def most_at_once(function, pause: float):
    """``function`` wrapped to count how many of its calls run at once, each first held ``pause`` seconds so
    that concurrent callers overlap; returns (the wrapper, a one-item list holding the most seen)."""
    import threading
    import time

    lock, running, most = threading.Lock(), [0], [0]

    def wrapped(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(pause)
        try:
            return function(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1
    return wrapped, most
