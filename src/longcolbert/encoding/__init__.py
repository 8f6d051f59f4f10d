"""Encoding: text to token vectors with a PyLate ColBERT model.

``model`` loads a checkpoint (``model_files`` checks what a folder holds, and
never runs code an index folder names); ``windows`` cuts a long document into
overlapping model windows and stitches them back; ``attention`` packs windows of
different lengths into one forward; ``encoder`` turns documents and queries into
rows with exact character offsets; ``precision`` decides where passages re-read
at search time multiply in bfloat16; ``cache`` keeps encodings by model and text
(bounded, optionally on disk); ``holder`` loads the model the first time a
search needs it.

May import: ``documents`` and the shared top-level modules.
"""
