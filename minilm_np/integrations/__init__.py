"""Adapters for LangChain, LlamaIndex and Haystack: each a thin class over ``CrossEncoder`` / ``Embedder``
with the interface its framework expects.

Each framework's adapters sit in a module of their own that imports the framework at its top, and
nothing else in minilm_np imports them, so the core keeps its run-time dependencies:

- ``minilm_np.integrations.langchain`` (``pip install "minilm-np[langchain]"``): ``MiniLMEmbeddings``,
  ``MiniLMRerank``;
- ``minilm_np.integrations.llamaindex`` (``pip install "minilm-np[llamaindex]"``): ``MiniLMEmbedding``,
  ``MiniLMRerank``;
- ``minilm_np.integrations.haystack`` (``pip install "minilm-np[haystack]"``): ``MiniLMTextEmbedder``,
  ``MiniLMDocumentEmbedder``, ``MiniLMRanker``.
"""
