"""Checkpoint tools around minilm_np: ``python -m weights_tools <command>`` (see __main__.py).

    convert   pytorch_model.bin -> model.safetensors (no torch needed), with the model's other files
    inspect   config summary, tensors, parameter count, missing/unexpected tensors of a model directory
    cast      float16/bfloat16 copy of a checkpoint, and the score drift it causes
    download  fetch a model (family size or Hub id) through the Hub cache, converting a .bin-only one
    verify    score stored reference inputs and compare with stored reference outputs

The runtime package ``minilm_np`` never imports this one. Only the fixture generators
(``make-fixtures``, ``make-torch-bin-fixtures``) need torch, and they import it inside functions.
"""


class ToolError(Exception):
    """A tool cannot do what was asked (a destination exists, nothing to convert, ...); one line, no trace."""
