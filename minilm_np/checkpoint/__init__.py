"""Files and names -> model arrays: the tensor-name table (names.py), the file formats (safetensors.py,
torch_bin.py, dtypes.py), loading a directory (load.py), Hub names and the model family (hub.py,
family.py). Imports ``minilm_np.model`` and nothing above it."""
