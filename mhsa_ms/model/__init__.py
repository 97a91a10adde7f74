"""The attention maths: functional attention, heads, attention modules, Transformer layers, the ViT.

One module per idea, in the order the lessons meet them: :mod:`.functional`
(scaled dot-product attention, masks), :mod:`.heads` (splitting a projection
into heads), :mod:`.attention` (the fused and the per-head module),
:mod:`.transformer` (feed-forward network, encoder and decoder layers),
:mod:`.masks` (the modules' masks, torch's conventions), :mod:`.positional`
(positional encodings), :mod:`.token_encoder`, :mod:`.vit`, :mod:`.timm_weights`
(timm's ViT weights in and out), :mod:`.cost` (what attention costs) and
:mod:`.jit` (compiling with ``mindspore.jit``).
Everything public is re-exported by :mod:`mhsa_ms`.
"""
