"""The ONNX model contract shared by the exporter (PyTorch side) and the runtime.

Inputs:  ``image``          float32 (N, 3, H, W), RGB in [0, 1], any H and W.
         ``style_weights``  float32 (N, S, h, w), per-pixel weights over the S styles
                            that sum to 1; any h and w (the graph resizes it to the
                            image), so the runtime may pass it at a lower resolution.
Output:  ``stylized``       float32 (N, 3, H, W), RGB in [0, 1].
Normalisation and clamping live inside the graph.

Metadata (ONNX ``metadata_props``, all strings; JSON where noted):
  live_nst.contract  the contract version below
  live_nst.styles    JSON list of {"name", "title", "artist", "artwork", "license"}
  live_nst.arch      JSON of the architecture config
  live_nst.recipe    JSON of the training recipe
  live_nst.quality   JSON of measured numbers (may be "{}")
"""

from __future__ import annotations

CONTRACT_VERSION = "1"
INPUT_IMAGE = "image"
INPUT_STYLE_WEIGHTS = "style_weights"
OUTPUT = "stylized"

KEY_CONTRACT = "live_nst.contract"
KEY_STYLES = "live_nst.styles"
KEY_ARCH = "live_nst.arch"
KEY_RECIPE = "live_nst.recipe"
KEY_QUALITY = "live_nst.quality"
REQUIRED_KEYS = (KEY_CONTRACT, KEY_STYLES)
