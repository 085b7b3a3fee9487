"""Text before the model: tokenization with BERT's template and truncation (tokenize.py), and cutting
documents into passages by sentence, line or paragraph (passages.py)."""
