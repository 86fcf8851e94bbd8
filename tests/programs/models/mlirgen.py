"""A small MLIR text builder for the model-sized test programs (linalg on tensors, f32).

Weights are pseudo-random (a fixed seed) and go in as ``dense_resource`` blobs, so the
generated source is compact to write and iree-compile cannot fold them into splats: the
compiled module carries them as rodata, as an exported model does.
"""

from __future__ import annotations

import json
import struct

import numpy as np


def ty(shape) -> str:
    return "tensor<" + "x".join(str(d) for d in shape) + "xf32>"


def _map(rank: int, dims) -> str:
    names = ", ".join(f"d{i}" for i in range(rank))
    return f"affine_map<({names}) -> ({', '.join(dims)})>"


class Builder:
    """``params``: weights become ``util.global``s initialised from parameters (scope
    ``model``, keys ``w0``, ``w1``, ...) instead of embedded blobs, as an export with
    externalized parameters has them; :meth:`write_safetensors` writes their values."""

    def __init__(self, seed: int = 0, params: bool = False):
        self.params = params
        self.lines: list[str] = []
        self.blobs: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)
        self.n = 0
        self.shapes: dict[str, tuple] = {}

    def v(self, shape) -> str:
        self.n += 1
        name = f"%v{self.n}"
        self.shapes[name] = tuple(shape)
        return name

    def emit(self, text: str) -> None:
        self.lines.append("    " + text)

    # -- values -------------------------------------------------------------------------
    def weight(self, shape, scale: float | None = None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
        scale = scale if scale is not None else (2.0 / max(fan_in, 1)) ** 0.5
        data = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        key = f"w{len(self.blobs)}"
        self.blobs[key] = data
        out = self.v(shape)
        if self.params:
            self.emit(f"{out} = util.global.load @{key} : {ty(shape)}")
        else:
            self.emit(f"{out} = arith.constant dense_resource<{key}> : {ty(shape)}")
        return out

    def scalar(self, value: float) -> str:
        self.n += 1
        name = f"%c{self.n}"
        self.emit(f"{name} = arith.constant {float(value):.9e} : f32")
        return name

    def filled(self, shape, value: float) -> str:
        c = self.scalar(value)
        e = self.v(shape)
        self.emit(f"{e}_e = tensor.empty() : {ty(shape)}")
        self.emit(f"{e} = linalg.fill ins({c} : f32) outs({e}_e : {ty(shape)}) -> {ty(shape)}")
        return e

    # -- elementwise and reductions (linalg.generic) -----------------------------------
    def generic(self, out_shape, inputs, body, reduce_dims=(), init: float | None = None):
        """``inputs``: (value, dims expression list over the iteration space).
        ``body(args, acc)`` returns lines computing ``%r`` from block arguments
        ``%a0..`` (and ``%acc``). The iteration space is out_shape + reduce_dims sizes."""
        rank = len(out_shape) + len(reduce_dims)
        out_dims = [f"d{i}" for i in range(len(out_shape))]
        maps = [_map(rank, dims) for _, dims in inputs] + [_map(rank, out_dims)]
        iters = ["parallel"] * len(out_shape) + ["reduction"] * len(reduce_dims)
        out = self.v(out_shape)
        if reduce_dims:
            init_v = self.filled(out_shape, init if init is not None else 0.0)
        else:
            init_v = f"{out}_e"
            self.emit(f"{init_v} = tensor.empty() : {ty(out_shape)}")
        ins = ", ".join(v for v, _ in inputs)
        in_types = ", ".join(ty(self.shapes[v]) for v, _ in inputs)
        args = ", ".join(f"%a{i}: f32" for i in range(len(inputs))) + ", %acc: f32"
        self.emit(f"{out} = linalg.generic {{indexing_maps = [{', '.join(maps)}], "
                  f"iterator_types = [{', '.join(repr(i).replace(chr(39), chr(34)) for i in iters)}]}}"
                  f" ins({ins} : {in_types}) outs({init_v} : {ty(out_shape)}) {{")
        self.emit(f"^bb0({args}):")
        for line in body:
            self.emit("  " + line)
        self.emit("  linalg.yield %r : f32")
        self.emit(f"}} -> {ty(out_shape)}")
        return out

    def ident(self, shape):
        return [f"d{i}" for i in range(len(shape))]

    def add(self, a, b):
        s = self.shapes[a]
        return self.generic(s, [(a, self.ident(s)), (b, self.ident(s))], ["%r = arith.addf %a0, %a1 : f32"])

    def relu(self, a):
        s = self.shapes[a]
        z = self.scalar(0.0)
        return self.generic(s, [(a, self.ident(s))], [f"%r = arith.maximumf %a0, {z} : f32"])

    def add_relu(self, a, b):
        s = self.shapes[a]
        z = self.scalar(0.0)
        return self.generic(s, [(a, self.ident(s)), (b, self.ident(s))],
                            ["%s = arith.addf %a0, %a1 : f32", f"%r = arith.maximumf %s, {z} : f32"])

    def bias_channel(self, x, bias, relu: bool):
        """x: NCHW, bias: C (a folded batch norm)."""
        s = self.shapes[x]
        body = ["%s = arith.addf %a0, %a1 : f32"]
        if relu:
            z = self.scalar(0.0)
            body.append(f"%r = arith.maximumf %s, {z} : f32")
        else:
            body[0] = "%r = arith.addf %a0, %a1 : f32"
        return self.generic(s, [(x, self.ident(s)), (bias, ["d1"])], body)

    # -- structured ops -----------------------------------------------------------------
    def pad(self, x, p: int, value: float = 0.0):
        if p == 0:
            return x
        n, c, hh, ww = self.shapes[x]
        out_shape = (n, c, hh + 2 * p, ww + 2 * p)
        c0 = self.scalar(value)
        out = self.v(out_shape)
        self.emit(f"{out} = tensor.pad {x} low[0, 0, {p}, {p}] high[0, 0, {p}, {p}] {{")
        self.emit("^bb0(%i0: index, %i1: index, %i2: index, %i3: index):")
        self.emit(f"  tensor.yield {c0} : f32")
        self.emit(f"}} : {ty(self.shapes[x])} to {ty(out_shape)}")
        return out

    def conv(self, x, cout, k, stride, pad):
        n, cin, hh, ww = self.shapes[x]
        w = self.weight((cout, cin, k, k))
        xp = self.pad(x, pad)
        oh = (hh + 2 * pad - k) // stride + 1
        ow = (ww + 2 * pad - k) // stride + 1
        out_shape = (n, cout, oh, ow)
        init = self.filled(out_shape, 0.0)
        out = self.v(out_shape)
        self.emit(f"{out} = linalg.conv_2d_nchw_fchw {{dilations = dense<1> : tensor<2xi64>, "
                  f"strides = dense<{stride}> : tensor<2xi64>}} ins({xp}, {w} : "
                  f"{ty(self.shapes[xp])}, {ty(self.shapes[w])}) outs({init} : {ty(out_shape)}) "
                  f"-> {ty(out_shape)}")
        return out

    def maxpool(self, x, k, stride, pad):
        n, c, hh, ww = self.shapes[x]
        xp = self.pad(x, pad, value=-3.0e38)
        oh = (hh + 2 * pad - k) // stride + 1
        ow = (ww + 2 * pad - k) // stride + 1
        out_shape = (n, c, oh, ow)
        init = self.filled(out_shape, -3.0e38)
        win = self.v((k, k))
        self.emit(f"{win} = tensor.empty() : {ty((k, k))}")
        out = self.v(out_shape)
        self.emit(f"{out} = linalg.pooling_nchw_max {{dilations = dense<1> : tensor<2xi64>, "
                  f"strides = dense<{stride}> : tensor<2xi64>}} ins({xp}, {win} : "
                  f"{ty(self.shapes[xp])}, {ty((k, k))}) outs({init} : {ty(out_shape)}) "
                  f"-> {ty(out_shape)}")
        return out

    def matmul(self, a, b):
        m, k = self.shapes[a]
        _, n = self.shapes[b]
        init = self.filled((m, n), 0.0)
        out = self.v((m, n))
        self.emit(f"{out} = linalg.matmul ins({a}, {b} : {ty((m, k))}, {ty((k, n))}) "
                  f"outs({init} : {ty((m, n))}) -> {ty((m, n))}")
        return out

    def batch_matmul(self, a, b):
        bs, m, k = self.shapes[a]
        _, _, n = self.shapes[b]
        init = self.filled((bs, m, n), 0.0)
        out = self.v((bs, m, n))
        self.emit(f"{out} = linalg.batch_matmul ins({a}, {b} : {ty((bs, m, k))}, "
                  f"{ty((bs, k, n))}) outs({init} : {ty((bs, m, n))}) -> {ty((bs, m, n))}")
        return out

    # -- text ---------------------------------------------------------------------------
    def module(self, name: str, args, result: str) -> str:
        sig = ", ".join(f"{a}: {ty(self.shapes[a])}" for a in args)
        head = [f"func.func @{name}({sig}) -> {ty(self.shapes[result])} {{"]
        body = self.lines + [f"    return {result} : {ty(self.shapes[result])}", "}"]
        if self.params:
            globals_ = [f'util.global private @{k} = #flow.parameter.named<"model"::"{k}"> : '
                        f"{ty(v.shape)}" for k, v in self.blobs.items()]
            return "\n".join(["module {", *("  " + line for line in globals_ + head + body),
                              "}"]) + "\n"
        blobs = ",\n".join(
            f'      {k}: "0x04000000{v.tobytes().hex()}"' for k, v in self.blobs.items())
        tail = ["", "{-#", "  dialect_resources: {", "    builtin: {", blobs, "    }", "  }", "#-}"]
        return "\n".join(["module {", *("  " + line for line in head + body), "}", *tail]) + "\n"

    def write_safetensors(self, path) -> None:
        """The weights as a .safetensors file (keys ``w0``...; for ``--parameters=model=``)."""
        header, offset = {}, 0
        for key, data in self.blobs.items():
            header[key] = {"dtype": "F32", "shape": list(data.shape),
                           "data_offsets": [offset, offset + data.nbytes]}
            offset += data.nbytes
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text)
            for data in self.blobs.values():
                f.write(data.tobytes())

    def arg(self, name: str, shape) -> str:
        full = f"%{name}"
        self.shapes[full] = tuple(shape)
        return full
