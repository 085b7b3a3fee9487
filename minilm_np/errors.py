"""The exceptions minilm-np raises when a model cannot be loaded.

Every loading failure is a ``ModelLoadError``, so ``except minilm_np.ModelLoadError`` catches them all.
Subclasses say which part failed; those about missing files are also ``FileNotFoundError``.
Bad arguments to ``predict``/``rank``/``encode`` are plain ``TypeError``/``ValueError``.
"""


class BadCountError(TypeError, ValueError):
    """A count or cut-off (batch_size, top_k, k, ...) that is not a positive int. Both a TypeError and a
    ValueError, so code that catches either (as callers of earlier versions did) still catches it."""


class ModelLoadError(Exception):
    """A model directory, file or Hub name could not be turned into a working model."""


class ModelNotFoundError(ModelLoadError, FileNotFoundError):
    """A directory or a file the model needs does not exist."""


class ConfigError(ModelLoadError):
    """config.json (or a sentence-transformers config) is unreadable, invalid or not supported."""


class WeightsError(ModelLoadError):
    """The weights file is unreadable, or a tensor is missing, mis-shaped or not finite."""


class TokenizerError(ModelLoadError):
    """The tokenizer files are missing or unreadable."""


HUB_ADVICE = ("Pass a local directory instead, e.g. {how}, or fetch it where there is internet with "
              "`python -m weights_tools download {repo_id} --dir DIR`.")


class HubError(ModelLoadError):
    """A Hub name could not be resolved to a local directory (offline, unknown, or no network).

    ``problem`` says what went wrong, ``repo_id`` names the model and ``advice`` says what to do: by default
    ``HUB_ADVICE``, with ``how`` the way to pass a directory (from Python, its path where the name was, for the
    constructor and ``from_pretrained`` alike; a command line names its option instead)."""

    def __init__(self, problem: str, repo_id: str, *, how: str = "'/path/to/model-dir' where the name was",
                 advice: str | None = None):
        self.problem, self.repo_id = problem, repo_id
        self.advice = HUB_ADVICE.format(how=how, repo_id=repo_id) if advice is None else advice
        super().__init__(f"{problem} {self.advice}".strip())
