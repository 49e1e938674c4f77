"""PyTorch to ONNX export of live-nst style networks (needs the ``[train]`` extra).

It builds on ``models/`` and the runtime, never on ``bench/`` (``tools/import_graph.py``).

- :mod:`live_nst.export.onnx_export`: ``export_checkpoint`` writes a ``live-nst train``
  checkpoint as one self-contained ``.onnx`` file that follows the model contract
  (``live_nst.contract``), with its styles' metadata, through
  ``live_nst.models.onnx_file.export_network`` (parity with PyTorch checked in ONNX
  Runtime, optional fp16 variant, files replaced atomically).
- :mod:`live_nst.export.pack_report`: the part of a ``live-nst-bench`` report the pack's
  model cards are made of (the bench writes the report, this reads it).
- :mod:`live_nst.export.artworks`: titles, artists and licence status of the artworks,
  written into a model's style metadata; only public-domain artworks go into the pack.
- :mod:`live_nst.export.style_pack`: builds the shipped style pack and its model cards.
"""
