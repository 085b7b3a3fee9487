"""Test collections: Cranfield's SMART files (cranfield.py) and the plain query/qrels layouts (trec.py)."""
