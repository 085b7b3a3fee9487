"""The README, run as written. Every ``$ minilm-np ...`` line of the console blocks under "A look inside" and
"Walkthrough: ranking and search" runs through the CLI's ``main`` in a scratch directory, in the README's order
(the index is built before it is searched). The L-6 reranker the README names is the MS MARCO L-6-shaped
stand-in, laid out in a Hugging Face cache and read offline, and ``./msmarco-l6-shaped`` is that same stand-in,
so no line is edited. The Python runs too: the walkthrough's block, the blocks of Usage, Long passages and A
look inside as one tour, and the framework examples, each where its extra is installed. Large corpora's lines
and its Python block run on a corpus.jsonl of Cranfield sentences. A flag or a name changed in the code and not
in the README fails here, naming the line; so does a change to the shape of the timing table the README
prints."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil

import pytest

from minilm_np import cli

from helpers import README, TORCH_BIN, code_blocks, fake_hub_cache, readme_sections

SECTIONS = ("## A look inside", "## Walkthrough: ranking and search")
# Lines left out, each with why: these are run elsewhere or would take the suite's time.
NOT_RUN = {"eval --cranfield": "embeds Cranfield's 1,400 abstracts (30 s); tests/test_cranfield.py runs eval on it"}
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def commands(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(the line as written, its arguments) for each ``$ `` line of a block, continuation lines joined; what
    follows the commands in a block is their printed output."""
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith("$ "):
            text = lines[i][2:]
            while text.endswith("\\"):
                i += 1
                text = text[:-1] + lines[i]
            out.append((" ".join(text.split()), shlex.split(text, comments=True)))
        i += 1
    return out


def walkthrough() -> list[tuple[str, list[str], list[str]]]:
    """(line, arguments after ``minilm-np``, the block's printed lines) for each line the test runs."""
    found = readme_sections()
    runs = []
    for heading in SECTIONS:
        for block in (text.splitlines() for text in code_blocks(found[heading], "console")):
            printed = [line for line in block if line and not line.startswith(("$ ", "    "))]
            runs += [(line, argv[1:], printed) for line, argv in commands(block) if argv[0] == "minilm-np"]
    return runs


@pytest.fixture
def readers_directory(tmp_path, monkeypatch, msmarco_l6):
    """A scratch directory as the README's reader has it: the repository's tests/ beside them, the stand-in
    made as the walkthrough says, and the Hub's L-6 in the cache (offline)."""
    import huggingface_hub.constants
    (tmp_path / "tests").symlink_to(README.parent / "tests", target_is_directory=True)
    (tmp_path / "msmarco-l6-shaped").symlink_to(msmarco_l6, target_is_directory=True)
    fake_hub_cache(tmp_path / "hf-cache", "cross-encoder/ms-marco-MiniLM-L-6-v2", msmarco_l6)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_walkthrough_finds_its_lines():
    """The parse itself: a README rewritten so that this test finds nothing would pass it vacuously."""
    lines = [line for line, _, _ in walkthrough()]
    assert len(lines) >= 10
    assert any(line.startswith("minilm-np explain") for line in lines)
    assert any(line.startswith("minilm-np compare") for line in lines)


def test_every_walkthrough_line_runs_as_written(readers_directory, capsys):
    failures, ran, skipped = [], 0, 0
    for line, argv, printed in walkthrough():
        if any(line.startswith(f"minilm-np {cut}") for cut in NOT_RUN):
            continue
        if "--png" in argv and not HAS_MATPLOTLIB:
            skipped += 1
            continue  # the plot extra; tests/test_plot.py and tests/test_explain_plot.py skip likewise
        code = cli.main(argv)
        out, err = capsys.readouterr()
        ran += 1
        if code != 0:
            failures.append(f"{line}\n  exit {code}: {err.strip()}")
        elif printed and not same_shape(printed, out.splitlines()):
            failures.append(f"{line}\n  prints\n{out}\n  where the README shows\n" + "\n".join(printed))
    assert not failures, "\n\n".join(failures)
    assert ran + skipped >= 10 and ran >= 9
    assert (readers_directory / "cities-idx" / "manifest.json").is_file()
    assert (readers_directory / "cities.npy").is_file()


def test_the_walkthroughs_python_runs_as_written(readers_directory, capsys):
    """Its one Python block (build, save, load and search an index), in the same kind of directory."""
    code, = code_blocks(readme_sections()["## Walkthrough: ranking and search"], "python")
    exec(compile(code, "README.md (walkthrough)", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5 + 1  # top_k=5 hits, then the timings
    assert "'reranking'" in printed[-1] and (readers_directory / "cities-idx" / "manifest.json").is_file()


def failing(main, runs, capsys) -> list[str]:
    """Each (line, arguments) of ``runs`` through a command's ``main``, in order: the lines that exited other
    than 0, each with what it wrote to stderr."""
    failures = []
    for line, argv in runs:
        code = main(argv)
        _, err = capsys.readouterr()
        if code != 0:
            failures.append(f"{line}\n  exit {code}: {err.strip()}")
    return failures


def same_shape(shown: list[str], printed: list[str]) -> bool:
    """Whether the first lines printed match the README's, blank lines aside, up to the numbers in them
    (timings vary) and absolute paths (the reader's directory is not the test's)."""
    def shape(line: str) -> str:
        return " ".join(re.sub(r"\d+(\.\d+)?", "N", re.sub(r"(?<!\S)/\S+", "PATH", line)).split())
    printed = [line for line in printed if line.strip()]
    return [shape(line) for line in shown] == [shape(line) for line in printed[:len(shown)]]


TOUR = ("## Usage", "## Long passages", "## A look inside")  # their Python blocks build on one another


def test_the_python_tour_runs_as_written(readers_directory, capsys):
    """Usage's block, then Long passages' and A look inside's, in one namespace as a reader runs them."""
    found, namespace = readme_sections(), {}
    for heading in TOUR:
        for code in code_blocks(found[heading], "python"):
            exec(compile(code, f"README.md ({heading[3:]})", "exec"), namespace)
    assert namespace["scores"].shape == (2,) and namespace["vectors"].shape == (2, 384)
    assert namespace["d"].windows.tolist() == [1, 1]  # both Berlin passages fit one window
    words = capsys.readouterr().out.splitlines()  # A look inside prints each word of the explained pair
    assert len(words) == len(namespace["ex"].words) == len((namespace["query"] + " " + namespace["passage"]).split())


FRAMEWORKS = ("langchain_classic", "llama_index.core", "haystack")  # what each example imports first


@pytest.mark.parametrize("framework", range(len(FRAMEWORKS)), ids=FRAMEWORKS)
def test_the_framework_examples_run_as_written(readers_directory, capsys, framework):
    """LangChain's, LlamaIndex's and Haystack's example, each a retriever then the reranker's best two."""
    pytest.importorskip(FRAMEWORKS[framework], reason="the framework's extra (README: Use it from LangChain, ...)")
    found = readme_sections()["## Use it from LangChain, LlamaIndex or Haystack"]
    examples = code_blocks(found, "python")
    assert [e.split()[1].split(".")[0] for e in examples] == [f.split(".")[0] for f in FRAMEWORKS]
    exec(compile(examples[framework], f"README.md ({FRAMEWORKS[framework]})", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and all(line.split(" ", 1)[1] in PASSAGES for line in printed), printed


PASSAGES = ("Berlin had a population of 3,520,031 registered inhabitants.", "Berlin is well known for its museums.",
            "Paris is the capital and most populous city of France.")  # the examples' passages



# --------------------------------------------------------------------------------------------------
# Large corpora: its console lines and its Python block, on a corpus.jsonl of Cranfield sentences.
# --------------------------------------------------------------------------------------------------

LARGE = "## Large corpora"
CORPUS_PASSAGES = 700  # IVF-PQ, which the Python block builds, trains on at least 624 vectors
NEEDS = {"--engine ray": "ray.data", "--ann": "faiss"}  # the extra a line needs: [ray], [ann]


def large_corpora_lines() -> list[tuple[str, list[str]]]:
    """(line, arguments after ``minilm-np``) for each run of the section's console lines, in order. The shard
    line runs once per shard, as its comment says ("on four machines, I = 0..3"); a line with an option in
    brackets runs without it, then with it."""
    runs = []
    for block in code_blocks(readme_sections()[LARGE], "console"):
        for line, argv in commands(block.splitlines()):
            argv = argv[1:]
            if "--shard" in argv:  # "--out parts/0 --shard 0/4": I in the place of the 0s
                n = int(argv[argv.index("--shard") + 1].split("/")[1])
                runs += [(f"{line} (I = {i})", [re.sub(r"\b0\b", str(i), a) for a in argv]) for i in range(n)]
            elif any(a.startswith("[") for a in argv):
                first = next(j for j, a in enumerate(argv) if a.startswith("["))
                last = next(j for j, a in enumerate(argv) if a.endswith("]"))
                runs.append((line, argv[:first] + argv[last + 1:]))
                runs.append((line, argv[:first] + [argv[first][1:], *argv[first + 1:last], argv[last][:-1]]
                             + argv[last + 1:]))
            else:
                runs.append((line, argv))
    return runs


def test_the_large_corpora_lines_are_found():
    lines = [" ".join(argv) for _, argv in large_corpora_lines()]
    assert sum(line.startswith("index build --corpus corpus.jsonl --out parts/") for line in lines) == 4
    assert "index merge parts/0 parts/1 parts/2 parts/3 --out idx --ann hnsw" in lines
    assert sum("--ray-address auto" in line for line in lines) == 1 and sum("--exact" in line for line in lines) == 1


@pytest.fixture
def corpus_reader(readers_directory, monkeypatch, minilm_dir, cranfield_dir):
    """The reader's directory with a corpus.jsonl (Cranfield's first sentences) and all-MiniLM-L6-v2, the
    default embedder, in the Hub cache too; the cache is named in the environment, which Ray's workers see."""
    from minilm_np.evaluation.datasets.cranfield import load_cranfield, sentences
    fake_hub_cache(readers_directory / "hf-cache", "sentence-transformers/all-MiniLM-L6-v2", minilm_dir)
    monkeypatch.setenv("HF_HUB_CACHE", str(readers_directory / "hf-cache"))
    texts = [s for a in load_cranfield(cranfield_dir).corpus.texts for s in sentences(a)][:CORPUS_PASSAGES]
    with open(readers_directory / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"s{i}", "text": text}) + "\n")
    return readers_directory


@pytest.fixture
def ray_cluster():
    """A local Ray cluster this process is part of, for the lines that join one (``--ray-address auto``,
    ``address="auto"``); shut down after the test. Without Ray, None."""
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.data") is None:
        yield None
        return
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")  # Ray's own settings, not ours
def test_the_large_corpora_section_runs_as_written(corpus_reader, ray_cluster, capsys):
    """Every console line (shards, merge, the Ray builds, the ANN build and searches) through the CLI, then the
    Python block. Ray runs on one local cluster started for the test: the line that would start its own
    (``--engine ray`` without an address) joins it instead; tests/test_distributed.py starts and stops one."""
    pytest.importorskip("faiss", reason='the section builds ANN indexes: pip install "minilm-np[ann]"')
    runs = [(line, argv) for line, argv in large_corpora_lines()
            if ray_cluster is not None or "--engine" not in argv]  # without the ray extra, no Ray line
    failures = failing(cli.main, runs, capsys)
    assert not failures, "\n\n".join(failures)
    assert len(runs) >= 8

    code, = code_blocks(readme_sections()[LARGE].split("### From Python")[1], "python")  # (Dask's needs a scheduler)
    if ray_cluster is None:
        pytest.skip('the block builds on a Ray cluster: pip install "minilm-np[ray]"')
    namespace = {}
    exec(compile(code, "README.md (Large corpora)", "exec"), namespace)
    assert len(namespace["hits"]) == len(namespace["exact"].hits) == 10


def test_the_readmes_python_type_checks(tmp_path):
    """The tour, the walkthrough's block and Large corpora's, through mypy against the package's annotations
    (it ships py.typed): a signature that refuses what the README passes, or a return type that lacks what the
    README reads, fails here. Left out: the framework and HTTP client examples, whose types are their
    packages' (and take a minute to check)."""
    api = pytest.importorskip("mypy.api", reason="mypy is in the test extra")
    found = readme_sections()
    files = {"tour": "\n".join(code for heading in TOUR for code in code_blocks(found[heading], "python")),
             "walkthrough": code_blocks(found["## Walkthrough: ranking and search"], "python")[0]}
    for i, code in enumerate(code_blocks(found[LARGE], "python")):
        files[f"large_corpora_{i}"] = code
    for name, code in files.items():
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    out, err, status = api.run([*map(str, sorted(tmp_path.glob("*.py"))), "--follow-imports=silent",
                                "--ignore-missing-imports", "--no-incremental", "--cache-dir", str(tmp_path / "cache")])
    assert status == 0, out + err
    assert len(files) >= 4 and "Success" in out


# --------------------------------------------------------------------------------------------------
# Checkpoint tools: each `python -m weights_tools` line, in order.
# --------------------------------------------------------------------------------------------------

def test_the_checkpoint_tools_run_as_written(readers_directory, capsys, cranfield_dir):
    """Make the stand-in, inspect it, verify it against the stored reference (its Cranfield pairs rebuilt from
    ../shared), cast it, convert a .bin-only directory (a torch-written state dict) and download the L-6 (from
    the Hub cache, offline): each line exits 0 and leaves what it says."""
    from weights_tools.__main__ import main as weights_tools

    (readers_directory / "msmarco-l6-shaped").unlink()  # the walkthrough's link: here the first line makes it
    (readers_directory / "old-bin-only-model").mkdir()
    shutil.copyfile(TORCH_BIN / "state_dict.bin", readers_directory / "old-bin-only-model" / "pytorch_model.bin")
    code, = code_blocks(readme_sections()["## Checkpoint tools"], "bash")
    lines = [shlex.split(line, comments=True) for line in code.splitlines()
             if line.startswith("python -m weights_tools")]
    assert [argv[3] for argv in lines] == ["make-standin", "inspect", "verify", "cast", "convert", "download"]
    failures = failing(weights_tools, [(" ".join(argv), argv[3:]) for argv in lines], capsys)
    assert not failures, "\n\n".join(failures)
    for made in ("msmarco-l6-shaped", "msmarco-l6-fp16", "model", "ms-marco-MiniLM-L-6-v2"):
        assert (readers_directory / made / "model.safetensors").is_file()
