"""minilm-np: pure-NumPy inference for the MiniLM MS MARCO cross-encoders and the MiniLM embedder."""

from .errors import ConfigError, HubError, ModelLoadError, ModelNotFoundError, TokenizerError, WeightsError

__all__ = ["ConfigError", "HubError", "ModelLoadError", "ModelNotFoundError", "TokenizerError", "WeightsError"]
