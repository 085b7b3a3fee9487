"""A look inside: what the forward pass computed, and why a passage scored as it did.

    trace.py      every layer's attention probabilities and hidden states (and every other intermediate,
                  under the checkpoint's names) from the plain reference forward, for one pair or text
    occlusion.py  exact occlusion: each word's contribution is the score change when its pieces are removed;
                  all the occluded inputs run in one batched call
    plot.py       the picture: contributions as a strip, attention maps per layer and head (matplotlib,
                  imported there alone)

The scorers (``CrossEncoder.trace`` / ``.explain``, ``Embedder.trace``) call down into this package; it
never imports them.
"""
