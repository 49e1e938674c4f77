"""PyTorch to ONNX export of live-nst style networks (needs the ``[train]`` extra).

- :mod:`live_nst.export.onnx_export`: ``export_network`` / ``export_checkpoint`` write one
  self-contained ``.onnx`` file that follows the model contract (``live_nst.contract``),
  with its metadata, after checking it in ONNX Runtime against PyTorch (parity), with an
  optional fp16 variant; files are replaced atomically.
- :mod:`live_nst.export.artworks`: titles, artists and licence status of the artworks,
  written into a model's style metadata; only public-domain artworks go into the pack.
- :mod:`live_nst.export.style_pack`: builds the shipped style pack and its model cards.
"""
