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


class HubError(ModelLoadError):
    """A Hub name could not be resolved to a local directory (offline, unknown, or no network).

    ``problem`` says what went wrong and ``advice`` what to do about it from Python; a command line gives
    its own advice (its option, not ``from_pretrained``) with the same ``problem``. ``repo_id`` names the
    model."""

    def __init__(self, problem: str, advice: str = "", repo_id: str | None = None):
        super().__init__(f"{problem} {advice}".strip())
        self.problem, self.advice, self.repo_id = problem, advice, repo_id
