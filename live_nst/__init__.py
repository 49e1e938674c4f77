"""live-nst: live neural style transfer for webcams and video files.

The runtime (this package, minus ``live_nst.models`` and ``live_nst.export``)
needs no PyTorch: style networks run in ONNX Runtime.
"""

__version__ = "0.1.0"
