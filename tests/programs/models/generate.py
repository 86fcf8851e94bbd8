"""Real-model-sized test programs, written as MLIR by this project (no framework needed).

* :func:`resnet18`: torchvision ResNet-18's topology in NHWC (7x7/2 stem, 3x3/2 max
  pool, four stages of two basic blocks with 1x1/2 downsampling, global average
  pool, fully connected), batch norm folded into biases as at inference. At
  ``width=64`` it has ResNet-18's 11.7 M parameters (46.8 MB of f32 weights).
* :func:`transformer_block`: a GPT-2 block (pre-layernorm, fused q/k/v projection,
  causal multi-head attention with a softmax, output projection, residuals,
  GELU-tanh MLP whose cube is ``math.powf(x, 3.0)`` as torch exports it). At the
  GPT-2 small sizes (768 wide, 12 heads, 3072 MLP) it has 7.1 M parameters.

Weights are seeded pseudo-random values scaled by 1/sqrt(fan-in) (activations
stay O(1)) and embedded as ``dense_resource`` constants, as a model exported
without external parameters carries them. The sources are generated on demand
(:func:`source`) into the corpus cache, never committed: they are megabytes of hex.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np


class _Emitter:
    def __init__(self, seed: int, external: bool = False):
        self.lines: list[str] = []
        self.resources: dict[str, bytes] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.rng = np.random.default_rng(seed)
        self.count = 0
        # External: weights are util.globals initialised from parameters ("model" scope),
        # as iree-turbine's externalize_module_parameters exports them.
        self.external = external

    def tmp(self, prefix: str = "v") -> str:
        self.count += 1
        return f"%_{prefix}{self.count}"  # "_": never clashes with region-local names

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def weight(self, shape, fan_in: int, scale: float = 1.0) -> str:
        values = self.rng.standard_normal(shape).astype(np.float32) * np.float32(
            scale / np.sqrt(fan_in))
        return self.constant(values)

    def constant(self, values: np.ndarray) -> str:
        name = f"w{len(self.resources)}"
        self.resources[name] = values.astype(np.float32).tobytes()
        self.shapes[name] = tuple(values.shape)
        v = self.tmp("c")
        if self.external:
            self.emit(f"{v} = util.global.load @{name} : {_t(values.shape)}")
        else:
            self.emit(f"{v} = arith.constant dense_resource<{name}> : {_t(values.shape)}")
        return v

    def module(self, signature: str, result: str, result_type: str) -> str:
        body = "\n".join(self.lines)
        func = (f"func.func @main({signature}) -> {result_type} {{\n{body}\n"
                f"  return {result} : {result_type}\n}}\n")
        if self.external:
            globals_ = "".join(f'util.global private @{k} = #flow.parameter.named<"model"::"{k}">'
                               f" : {_t(self.shapes[k])}\n" for k in self.resources)
            return globals_ + func
        blobs = ",\n".join(f'      {k}: "0x04000000{v.hex()}"' for k, v in self.resources.items())
        return func + (f"{{-#\n  dialect_resources: {{\n    builtin: {{\n{blobs}\n    }}\n"
                       "  }\n#-}\n")

    def safetensors(self) -> bytes:
        """The weights as a .safetensors file (the external variant's parameters)."""
        header, offset = {}, 0
        for name, data in self.resources.items():
            header[name] = {"dtype": "F32", "shape": list(self.shapes[name]),
                            "data_offsets": [offset, offset + len(data)]}
            offset += len(data)
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + b"".join(self.resources.values())


def _t(shape) -> str:
    return "tensor<" + "x".join(str(d) for d in shape) + "xf32>"


_ZERO = "%zero"


def _fill(e: _Emitter, shape, value: str = _ZERO) -> str:
    empty, out = e.tmp("e"), e.tmp("f")
    e.emit(f"{empty} = tensor.empty() : {_t(shape)}")
    e.emit(f"{out} = linalg.fill ins({value} : f32) outs({empty} : {_t(shape)}) -> {_t(shape)}")
    return out


def _pad(e: _Emitter, x: str, shape, p: int, value: str = _ZERO):
    n, h, w, c = shape
    out_shape = (n, h + 2 * p, w + 2 * p, c)
    v = e.tmp("p")
    e.emit(f"{v} = tensor.pad {x} low[0, {p}, {p}, 0] high[0, {p}, {p}, 0] {{")
    e.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
    e.emit(f"  tensor.yield {value} : f32")
    e.emit(f"}} : {_t(shape)} to {_t(out_shape)}")
    return v, out_shape


def _conv(e: _Emitter, x: str, shape, k: int, cout: int, stride: int, pad: int):
    n, _, _, cin = shape
    if pad:
        x, shape = _pad(e, x, shape, pad)
    h = (shape[1] - k) // stride + 1
    w_ = (shape[2] - k) // stride + 1
    out_shape = (n, h, w_, cout)
    weight = e.weight((k, k, cin, cout), k * k * cin, scale=np.sqrt(2.0))
    init = _fill(e, out_shape)
    v = e.tmp("conv")
    e.emit(f"{v} = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>, "
           f"strides = dense<{stride}> : tensor<2xi64>}} ins({x}, {weight} : {_t(shape)}, "
           f"{_t((k, k, cin, cout))}) outs({init} : {_t(out_shape)}) -> {_t(out_shape)}")
    return v, out_shape


def _bias_act(e: _Emitter, x: str, shape, residual: str | None = None, relu: bool = True):
    """relu(x + bias [+ residual]) over NHWC with a per-channel bias."""
    bias = e.weight((shape[-1],), 16, scale=0.1)
    nhwc = "affine_map<(n, h, w, c) -> (n, h, w, c)>"
    chan = "affine_map<(n, h, w, c) -> (c)>"
    maps = [nhwc, chan] + ([nhwc] if residual else []) + [nhwc]
    ins = [x, bias] + ([residual] if residual else [])
    types = [_t(shape), _t((shape[-1],))] + ([_t(shape)] if residual else [])
    empty, v = e.tmp("e"), e.tmp("act")
    e.emit(f"{empty} = tensor.empty() : {_t(shape)}")
    e.emit(f"{v} = linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = "
           f"[\"parallel\", \"parallel\", \"parallel\", \"parallel\"]}} ins({', '.join(ins)} : "
           f"{', '.join(types)}) outs({empty} : {_t(shape)}) {{")
    args = ", ".join(f"%a{i}: f32" for i in range(len(ins) + 1))
    e.emit(f"^bb0({args}):")
    e.emit("  %s0 = arith.addf %a0, %a1 : f32")
    last = "%s0"
    if residual:
        e.emit("  %s1 = arith.addf %s0, %a2 : f32")
        last = "%s1"
    if relu:
        e.emit(f"  %r = arith.maximumf {last}, {_ZERO} : f32")
        last = "%r"
    e.emit(f"  linalg.yield {last} : f32")
    e.emit(f"}} -> {_t(shape)}")
    return v


def resnet18(width: int = 64, image: int = 224, classes: int = 1000, seed: int = 0,
             external: bool = False) -> _Emitter:
    """ResNet-18 (``width`` channels in the first stage); @main(image) -> logits."""
    e = _Emitter(seed, external)
    e.emit(f"{_ZERO} = arith.constant 0.0 : f32")
    e.emit("%ninf = arith.constant -3.40282347e+38 : f32")
    shape = (1, image, image, 3)
    x, shape = _conv(e, "%input", shape, 7, width, 2, 3)
    x = _bias_act(e, x, shape)
    # 3x3/2 max pool with -inf padding.
    x, padded = _pad(e, x, shape, 1, "%ninf")
    out = (1, (padded[1] - 3) // 2 + 1, (padded[2] - 3) // 2 + 1, width)
    window, init, pooled = e.tmp("win"), _fill(e, out, "%ninf"), e.tmp("pool")
    e.emit(f"{window} = tensor.empty() : tensor<3x3xf32>")
    e.emit(f"{pooled} = linalg.pooling_nhwc_max {{dilations = dense<1> : tensor<2xi64>, "
           f"strides = dense<2> : tensor<2xi64>}} ins({x}, {window} : {_t(padded)}, "
           f"tensor<3x3xf32>) outs({init} : {_t(out)}) -> {_t(out)}")
    x, shape = pooled, out
    channels = width
    for stage in range(4):
        for block in range(2):
            stride = 2 if stage and not block else 1
            cout = width << stage
            y, yshape = _conv(e, x, shape, 3, cout, stride, 1)
            y = _bias_act(e, y, yshape)
            y, yshape = _conv(e, y, yshape, 3, cout, 1, 1)
            shortcut = x
            if stride != 1 or cout != channels:
                shortcut, _ = _conv(e, x, shape, 1, cout, stride, 0)
            x = _bias_act(e, y, yshape, residual=shortcut)
            shape, channels = yshape, cout
    # Global average pool then the classifier.
    n, h, w, c = shape
    acc = _fill(e, (1, c))
    pooled = e.tmp("gap")
    e.emit(f"{pooled} = linalg.generic {{indexing_maps = [affine_map<(n, c, h, w) -> (n, h, w, c)>, "
           f"affine_map<(n, c, h, w) -> (n, c)>], iterator_types = [\"parallel\", \"parallel\", "
           f"\"reduction\", \"reduction\"]}} ins({x} : {_t(shape)}) outs({acc} : {_t((1, c))}) {{")
    e.emit("^bb0(%a0: f32, %a1: f32):")
    e.emit(f"  %s = arith.addf %a0, %a1 : f32\n    linalg.yield %s : f32\n  }} -> {_t((1, c))}")
    fc = e.weight((c, classes), c * h * w)
    init = _fill(e, (1, classes))
    logits = e.tmp("fc")
    e.emit(f"{logits} = linalg.matmul ins({pooled}, {fc} : {_t((1, c))}, {_t((c, classes))}) "
           f"outs({init} : {_t((1, classes))}) -> {_t((1, classes))}")
    e.text = e.module(f"%input: {_t((1, image, image, 3))}", logits, _t((1, classes)))
    return e


def _linear(e: _Emitter, x: str, rows: int, din: int, dout: int) -> str:
    weight = e.weight((din, dout), din)
    bias = e.weight((dout,), 16, scale=0.1)
    init = _fill(e, (rows, dout))
    mm, out, empty = e.tmp("mm"), e.tmp("lin"), e.tmp("e")
    e.emit(f"{mm} = linalg.matmul ins({x}, {weight} : {_t((rows, din))}, {_t((din, dout))}) "
           f"outs({init} : {_t((rows, dout))}) -> {_t((rows, dout))}")
    e.emit(f"{empty} = tensor.empty() : {_t((rows, dout))}")
    e.emit(f"{out} = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, j)>, "
           f"affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = "
           f"[\"parallel\", \"parallel\"]}} ins({mm}, {bias} : {_t((rows, dout))}, "
           f"{_t((dout,))}) outs({empty} : {_t((rows, dout))}) {{")
    e.emit("^bb0(%a0: f32, %a1: f32, %a2: f32):")
    e.emit(f"  %s = arith.addf %a0, %a1 : f32\n    linalg.yield %s : f32\n  }} -> {_t((rows, dout))}")
    return out


def _reduce_rows(e: _Emitter, x: str, rows: int, cols: int, init_value: str, body: list[str],
                 extra: list[tuple[str, str, str]] = ()) -> str:
    """A per-row reduction of x (rows x cols) with ``body`` over %a0 (x), extras, %acc."""
    acc = _fill(e, (rows,), init_value)
    v = e.tmp("red")
    maps = ["affine_map<(i, j) -> (i, j)>"] + [m for _, _, m in extra] + ["affine_map<(i, j) -> (i)>"]
    ins = [x] + [name for name, _, _ in extra]
    types = [_t((rows, cols))] + [t for _, t, _ in extra]
    e.emit(f"{v} = linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = "
           f"[\"parallel\", \"reduction\"]}} ins({', '.join(ins)} : {', '.join(types)}) "
           f"outs({acc} : {_t((rows,))}) {{")
    args = ", ".join(f"%a{i}: f32" for i in range(len(ins))) + ", %acc: f32"
    e.emit(f"^bb0({args}):")
    for line in body:
        e.emit("  " + line)
    e.emit(f"}} -> {_t((rows,))}")
    return v


def _layernorm(e: _Emitter, x: str, rows: int, d: int) -> str:
    gamma = e.constant(1 + 0.1 * e.rng.standard_normal(d))
    beta = e.weight((d,), 16, scale=0.1)
    total = _reduce_rows(e, x, rows, d, _ZERO, ["%s = arith.addf %a0, %acc : f32",
                                                "linalg.yield %s : f32"])
    sq = _reduce_rows(e, x, rows, d, _ZERO, [
        "%m = arith.divf %a1, %dsize : f32", "%t = arith.subf %a0, %m : f32",
        "%t2 = arith.mulf %t, %t : f32", "%s = arith.addf %t2, %acc : f32",
        "linalg.yield %s : f32"], [(total, _t((rows,)), "affine_map<(i, j) -> (i)>")])
    empty, out = e.tmp("e"), e.tmp("ln")
    e.emit(f"{empty} = tensor.empty() : {_t((rows, d))}")
    e.emit(f"{out} = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, j)>, "
           "affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (j)>, "
           "affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = "
           f"[\"parallel\", \"parallel\"]}} ins({x}, {total}, {sq}, {gamma}, {beta} : "
           f"{_t((rows, d))}, {_t((rows,))}, {_t((rows,))}, {_t((d,))}, {_t((d,))}) "
           f"outs({empty} : {_t((rows, d))}) {{")
    e.emit("^bb0(%a0: f32, %a1: f32, %a2: f32, %a3: f32, %a4: f32, %a5: f32):")
    for line in ["%m = arith.divf %a1, %dsize : f32", "%var = arith.divf %a2, %dsize : f32",
                 "%ve = arith.addf %var, %eps : f32", "%r = math.rsqrt %ve : f32",
                 "%t = arith.subf %a0, %m : f32", "%u = arith.mulf %t, %r : f32",
                 "%g = arith.mulf %u, %a3 : f32", "%b = arith.addf %g, %a4 : f32",
                 "linalg.yield %b : f32"]:
        e.emit("  " + line)
    e.emit(f"}} -> {_t((rows, d))}")
    return out


def _elementwise(e: _Emitter, inputs: list[str], shape, body: list[str]) -> str:
    rank = len(shape)
    dims = ", ".join(f"d{i}" for i in range(rank))
    ident = f"affine_map<({dims}) -> ({dims})>"
    empty, v = e.tmp("e"), e.tmp("ew")
    parallel = ", ".join(['"parallel"'] * rank)
    e.emit(f"{empty} = tensor.empty() : {_t(shape)}")
    e.emit(f"{v} = linalg.generic {{indexing_maps = [{', '.join([ident] * (len(inputs) + 1))}], "
           f"iterator_types = [{parallel}]}} ins({', '.join(inputs)} : "
           f"{', '.join([_t(shape)] * len(inputs))}) outs({empty} : {_t(shape)}) {{")
    args = ", ".join(f"%a{i}: f32" for i in range(len(inputs) + 1))
    e.emit(f"^bb0({args}):")
    for line in body:
        e.emit("  " + line)
    e.emit(f"}} -> {_t(shape)}")
    return v


def transformer_block(seq: int = 128, d: int = 768, heads: int = 12, ffn: int = 3072,
                      seed: int = 1, external: bool = False) -> _Emitter:
    """A GPT-2 transformer block; @main(x: seq x d) -> seq x d."""
    e = _Emitter(seed, external)
    hd = d // heads
    e.emit(f"{_ZERO} = arith.constant 0.0 : f32")
    e.emit("%ninf = arith.constant -3.40282347e+38 : f32")
    e.emit(f"%dsize = arith.constant {float(d)!r} : f32")
    e.emit("%eps = arith.constant 1.0e-5 : f32")
    e.emit(f"%scale = arith.constant {float(1.0 / np.sqrt(hd))!r} : f32")
    x = "%input"
    h = _layernorm(e, x, seq, d)
    qkv = _linear(e, h, seq, d, 3 * d)
    q4 = e.tmp("qkv")
    e.emit(f"{q4} = tensor.expand_shape {qkv} [[0], [1, 2, 3]] output_shape [{seq}, 3, {heads}, "
           f"{hd}] : {_t((seq, 3 * d))} into {_t((seq, 3, heads, hd))}")
    # scores[h, i, j] = scale * sum_d q[i, h, d] * k[j, h, d], causal mask j > i.
    zs = _fill(e, (heads, seq, seq))
    scores = e.tmp("sc")
    e.emit(f"{scores} = linalg.generic {{indexing_maps = [affine_map<(h, i, j, d) -> (i, 0, h, d)>, "
           "affine_map<(h, i, j, d) -> (j, 1, h, d)>, affine_map<(h, i, j, d) -> (h, i, j)>], "
           "iterator_types = [\"parallel\", \"parallel\", \"parallel\", \"reduction\"]} "
           f"ins({q4}, {q4} : {_t((seq, 3, heads, hd))}, {_t((seq, 3, heads, hd))}) "
           f"outs({zs} : {_t((heads, seq, seq))}) {{")
    e.emit("^bb0(%a0: f32, %a1: f32, %acc: f32):")
    e.emit("  %m = arith.mulf %a0, %a1 : f32\n    %s = arith.addf %m, %acc : f32")
    e.emit(f"  linalg.yield %s : f32\n  }} -> {_t((heads, seq, seq))}")
    empty, masked = e.tmp("e"), e.tmp("mask")
    e.emit(f"{empty} = tensor.empty() : {_t((heads, seq, seq))}")
    e.emit(f"{masked} = linalg.generic {{indexing_maps = [affine_map<(h, i, j) -> (h, i, j)>, "
           "affine_map<(h, i, j) -> (h, i, j)>], iterator_types = [\"parallel\", \"parallel\", "
           f"\"parallel\"]}} ins({scores} : {_t((heads, seq, seq))}) outs({empty} : "
           f"{_t((heads, seq, seq))}) {{")
    e.emit("^bb0(%a0: f32, %o: f32):")
    for line in ["%i = linalg.index 1 : index", "%j = linalg.index 2 : index",
                 "%future = arith.cmpi ugt, %j, %i : index", "%s = arith.mulf %a0, %scale : f32",
                 "%r = arith.select %future, %ninf, %s : f32", "linalg.yield %r : f32"]:
        e.emit("  " + line)
    e.emit(f"}} -> {_t((heads, seq, seq))}")
    sm_init, probs = e.tmp("e"), e.tmp("softmax")
    e.emit(f"{sm_init} = tensor.empty() : {_t((heads, seq, seq))}")
    e.emit(f"{probs} = linalg.softmax dimension(2) ins({masked} : {_t((heads, seq, seq))}) "
           f"outs({sm_init} : {_t((heads, seq, seq))}) -> {_t((heads, seq, seq))}")
    # attn[i, h, d] = sum_j p[h, i, j] * v[j, h, d]
    za = _fill(e, (seq, heads, hd))
    attn = e.tmp("attn")
    e.emit(f"{attn} = linalg.generic {{indexing_maps = [affine_map<(i, h, d, j) -> (h, i, j)>, "
           "affine_map<(i, h, d, j) -> (j, 2, h, d)>, affine_map<(i, h, d, j) -> (i, h, d)>], "
           "iterator_types = [\"parallel\", \"parallel\", \"parallel\", \"reduction\"]} "
           f"ins({probs}, {q4} : {_t((heads, seq, seq))}, {_t((seq, 3, heads, hd))}) "
           f"outs({za} : {_t((seq, heads, hd))}) {{")
    e.emit("^bb0(%a0: f32, %a1: f32, %acc: f32):")
    e.emit("  %m = arith.mulf %a0, %a1 : f32\n    %s = arith.addf %m, %acc : f32")
    e.emit(f"  linalg.yield %s : f32\n  }} -> {_t((seq, heads, hd))}")
    flat = e.tmp("flat")
    e.emit(f"{flat} = tensor.collapse_shape {attn} [[0], [1, 2]] : {_t((seq, heads, hd))} "
           f"into {_t((seq, d))}")
    proj = _linear(e, flat, seq, d, d)
    res1 = _elementwise(e, [x, proj], (seq, d), ["%s = arith.addf %a0, %a1 : f32",
                                                 "linalg.yield %s : f32"])
    h2 = _layernorm(e, res1, seq, d)
    up = _linear(e, h2, seq, d, ffn)
    gelu = _elementwise(e, [up], (seq, ffn), [
        "%three = arith.constant 3.0 : f32", "%c0 = arith.constant 0.044715 : f32",
        "%c1 = arith.constant 0.797884583 : f32", "%half = arith.constant 0.5 : f32",
        "%one = arith.constant 1.0 : f32", "%cube = math.powf %a0, %three : f32",
        "%t0 = arith.mulf %cube, %c0 : f32", "%t1 = arith.addf %a0, %t0 : f32",
        "%t2 = arith.mulf %t1, %c1 : f32", "%t3 = math.tanh %t2 : f32",
        "%t4 = arith.addf %t3, %one : f32", "%t5 = arith.mulf %a0, %half : f32",
        "%r = arith.mulf %t5, %t4 : f32", "linalg.yield %r : f32"])
    down = _linear(e, gelu, seq, ffn, d)
    out = _elementwise(e, [res1, down], (seq, d), ["%s = arith.addf %a0, %a1 : f32",
                                                   "linalg.yield %s : f32"])
    e.text = e.module(f"%input: {_t((seq, d))}", out, _t((seq, d)))
    return e


MODELS = {
    # Full size (benchmarks) and reduced (differential tests: same dispatch kinds).
    "resnet18": lambda: resnet18(),
    "resnet18_small": lambda: resnet18(width=16, image=64, classes=100),
    "gpt2_block": lambda: transformer_block(),
    "gpt2_block_small": lambda: transformer_block(seq=32, d=128, heads=4, ffn=512),
    # Weights in a parameter file (scope "model"), like an externalized export.
    "resnet18_ext": lambda: resnet18(external=True),
    "resnet18_small_ext": lambda: resnet18(width=16, image=64, classes=100, external=True),
}


def source(name: str, directory: Path) -> Path:
    """Writes model ``name``'s MLIR into ``directory`` (once; keyed by content) and returns it.

    External-parameter models also get ``<source>.safetensors`` beside it.
    """
    emitter = MODELS[name]()
    text = emitter.text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(directory) / f"model-{name}-{digest}.mlir"
    if not path.exists():
        if emitter.external:
            weights = path.with_suffix(".safetensors")
            tmp = weights.with_suffix(".tmp")
            tmp.write_bytes(emitter.safetensors())
            tmp.replace(weights)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def parameters(source_path: Path) -> Path:
    """The parameter file written beside an external model's source."""
    return Path(source_path).with_suffix(".safetensors")
