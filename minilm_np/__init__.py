"""minilm-np: pure-NumPy inference for the MiniLM MS MARCO cross-encoders and the MiniLM embedder.

    >>> from minilm_np import CrossEncoder, Embedder
    >>> ce = CrossEncoder.from_pretrained("L-6")          # or a local directory
    >>> ce.predict([("How many people live in Berlin?", "Berlin had a population of 3,520,031 ...")])
"""

from .checkpoint.family import models
from .cross_encoder import CrossEncoder
from .embedder import Embedder
from .errors import ConfigError, HubError, ModelLoadError, ModelNotFoundError, TokenizerError, WeightsError
from .model.heads import quantize_embeddings

__all__ = ["CrossEncoder", "Embedder", "models", "quantize_embeddings", "ConfigError", "HubError", "ModelLoadError",
           "ModelNotFoundError", "TokenizerError", "WeightsError"]
__version__ = "0.1.0"
