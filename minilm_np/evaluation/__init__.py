"""Retrieval quality: metrics (metrics.py), the evaluation protocol that runs each search method over a
query set (runs.py), and the test collections it reads (datasets/)."""
