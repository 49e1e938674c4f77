"""The PyTorch side of live-nst: VGG-19 loss network, losses, Gatys optimisation,
style networks, their training and their ONNX form (``onnx_file``). Needs the ``[train]``
extra. It builds on the runtime only: ``export/`` and ``bench/`` build on it
(``tools/import_graph.py``)."""
