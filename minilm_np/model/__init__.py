"""The forward pass: arrays in, arrays out. Nothing here opens a file, knows a checkpoint name or
tokenizes; it imports numpy and ``minilm_np.errors`` only (and numba in ``fused.py``, loaded only on request).

Shapes use these letters in every module of the package:
    B batch, T tokens per sequence (padded), D hidden size, H attention heads, K head size = D / H,
    F intermediate (feed-forward) size, L labels, N real tokens of a batch packed together.

    config.py     BertConfig: the hyper-parameters, validated
    weights.py    BertWeights / LayerWeights: the arrays the encoder reads
    ops.py        linear, layer_norm, softmax, exact GELU
    reference.py  the plain padded BERT forward, one small function per stage: read this one
    packed.py     the same forward on packed real tokens, arranged for speed: this one runs
    kernels.py    packed.py's element-wise stages (GELU, residual + LayerNorm, softmax's exp and division) by name
    fused.py      the same stages as compiled loops, kernels="numba" (the jit extra)
    heads.py      the classifier head, pooling, normalisation
"""
