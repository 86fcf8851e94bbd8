"""Writes (to stdout) a GPT-2-style decoder in MLIR: token and position embeddings, 4 blocks of
(layer norm, 4-head causal self-attention, layer norm, GELU MLP) with residuals, a final layer
norm and the tied LM head; 32 tokens, width 256, vocabulary 2048 (~4M f32 weights)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlirgen import Builder, ty  # noqa: E402

SEQ, WIDTH, HEADS, LAYERS, VOCAB = 32, 256, 4, 4, 2048
HEAD = WIDTH // HEADS

def layer_norm(b, x):
    s, d = b.shapes[x]
    total = b.generic((s,), [(x, ["d0", "d1"])], ["%r = arith.addf %a0, %acc : f32"],
                      reduce_dims=(d,))
    inv = b.scalar(1.0 / d)
    eps = b.scalar(1e-5)
    mean = b.generic((s,), [(total, ["d0"])], [f"%r = arith.mulf %a0, {inv} : f32"])
    sq = b.generic((s,), [(x, ["d0", "d1"]), (mean, ["d0"])],
                   ["%t = arith.subf %a0, %a1 : f32", "%u = arith.mulf %t, %t : f32",
                    "%r = arith.addf %u, %acc : f32"], reduce_dims=(d,))
    rstd = b.generic((s,), [(sq, ["d0"])],
                     [f"%t = arith.mulf %a0, {inv} : f32", f"%u = arith.addf %t, {eps} : f32",
                      "%r = math.rsqrt %u : f32"])
    gamma, beta = b.weight((d,), 0.1), b.weight((d,), 0.1)
    return b.generic((s, d), [(x, ["d0", "d1"]), (mean, ["d0"]), (rstd, ["d0"]),
                              (gamma, ["d1"]), (beta, ["d1"])],
                     ["%t = arith.subf %a0, %a1 : f32", "%u = arith.mulf %t, %a2 : f32",
                      "%w = arith.mulf %u, %a3 : f32", "%r = arith.addf %w, %a4 : f32"])

def linear(b, x, dout):
    _, din = b.shapes[x]
    y = b.matmul(x, b.weight((din, dout), (1.0 / din) ** 0.5))
    s = b.shapes[y]
    return b.generic(s, [(y, ["d0", "d1"]), (b.weight((dout,), 0.02), ["d1"])],
                     ["%r = arith.addf %a0, %a1 : f32"])

def _heads(b, x, offset):
    out = b.v((HEADS, SEQ, HEAD))
    src = b.v((SEQ, WIDTH))
    b.emit(f"{src} = tensor.extract_slice {x}[0, {offset}] [{SEQ}, {WIDTH}] [1, 1] : "
           f"{ty((SEQ, 3 * WIDTH))} to {ty((SEQ, WIDTH))}")
    e = b.v((SEQ, HEADS, HEAD))
    b.emit(f"{e} = tensor.expand_shape {src} [[0], [1, 2]] output_shape [{SEQ}, {HEADS}, {HEAD}]"
           f" : {ty((SEQ, WIDTH))} into {ty((SEQ, HEADS, HEAD))}")
    b.emit(f"{out}_e = tensor.empty() : {ty((HEADS, SEQ, HEAD))}")
    b.emit(f"{out} = linalg.transpose ins({e} : {ty((SEQ, HEADS, HEAD))}) "
           f"outs({out}_e : {ty((HEADS, SEQ, HEAD))}) permutation = [1, 0, 2]")
    return out

def attention(b, x):
    qkv = linear(b, x, 3 * WIDTH)
    q, k, v = (_heads(b, qkv, i * WIDTH) for i in range(3))
    kt = b.v((HEADS, HEAD, SEQ))
    b.emit(f"{kt}_e = tensor.empty() : {ty((HEADS, HEAD, SEQ))}")
    b.emit(f"{kt} = linalg.transpose ins({k} : {ty((HEADS, SEQ, HEAD))}) "
           f"outs({kt}_e : {ty((HEADS, HEAD, SEQ))}) permutation = [0, 2, 1]")
    scores = b.batch_matmul(q, kt)
    scale = b.scalar(HEAD ** -0.5)
    neg = b.scalar(-1.0e9)
    # Causal mask from the iteration indices (key position > query position: -1e9).
    masked = b.v((HEADS, SEQ, SEQ))
    b.emit(f"{masked}_e = tensor.empty() : {ty((HEADS, SEQ, SEQ))}")
    b.emit(f"{masked} = linalg.generic {{indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>,"
           f" affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = [\"parallel\", "
           f"\"parallel\", \"parallel\"]}} ins({scores} : {ty((HEADS, SEQ, SEQ))}) "
           f"outs({masked}_e : {ty((HEADS, SEQ, SEQ))}) {{")
    b.emit("^bb0(%a0: f32, %acc: f32):")
    b.emit("  %i = linalg.index 1 : index")
    b.emit("  %j = linalg.index 2 : index")
    b.emit("  %future = arith.cmpi ugt, %j, %i : index")
    b.emit(f"  %s = arith.mulf %a0, {scale} : f32")
    b.emit(f"  %r = arith.select %future, {neg}, %s : f32")
    b.emit("  linalg.yield %r : f32")
    b.emit(f"}} -> {ty((HEADS, SEQ, SEQ))}")
    mx = b.generic((HEADS, SEQ), [(masked, ["d0", "d1", "d2"])],
                   ["%r = arith.maximumf %a0, %acc : f32"], reduce_dims=(SEQ,), init=-3.0e38)
    ex = b.generic((HEADS, SEQ, SEQ), [(masked, ["d0", "d1", "d2"]), (mx, ["d0", "d1"])],
                   ["%t = arith.subf %a0, %a1 : f32", "%r = math.exp %t : f32"])
    sm = b.generic((HEADS, SEQ), [(ex, ["d0", "d1", "d2"])], ["%r = arith.addf %a0, %acc : f32"],
                   reduce_dims=(SEQ,))
    probs = b.generic((HEADS, SEQ, SEQ), [(ex, ["d0", "d1", "d2"]), (sm, ["d0", "d1"])],
                      ["%r = arith.divf %a0, %a1 : f32"])
    ctx = b.batch_matmul(probs, v)
    t = b.v((SEQ, HEADS, HEAD))
    b.emit(f"{t}_e = tensor.empty() : {ty((SEQ, HEADS, HEAD))}")
    b.emit(f"{t} = linalg.transpose ins({ctx} : {ty((HEADS, SEQ, HEAD))}) "
           f"outs({t}_e : {ty((SEQ, HEADS, HEAD))}) permutation = [1, 0, 2]")
    merged = b.v((SEQ, WIDTH))
    b.emit(f"{merged} = tensor.collapse_shape {t} [[0], [1, 2]] : {ty((SEQ, HEADS, HEAD))} "
           f"into {ty((SEQ, WIDTH))}")
    return linear(b, merged, WIDTH)

def gelu(b, x):
    c0, c1, half, one = b.scalar(0.7978845608), b.scalar(0.044715), b.scalar(0.5), b.scalar(1.0)
    s = b.shapes[x]
    return b.generic(s, [(x, ["d0", "d1"])], [
        "%x3 = arith.mulf %a0, %a0 : f32", "%x4 = arith.mulf %x3, %a0 : f32",
        f"%x5 = arith.mulf %x4, {c1} : f32", "%x6 = arith.addf %a0, %x5 : f32",
        f"%x7 = arith.mulf %x6, {c0} : f32", "%x8 = math.tanh %x7 : f32",
        f"%x9 = arith.addf %x8, {one} : f32", f"%x10 = arith.mulf %x9, {half} : f32",
        "%r = arith.mulf %a0, %x10 : f32"])

def main():
    b = Builder(seed=2)
    tokens = b.arg("tokens", (SEQ,))
    b.shapes[tokens] = (SEQ,)
    wte = b.weight((VOCAB, WIDTH), 0.02)
    wpe = b.weight((SEQ, WIDTH), 0.01)
    x = b.v((SEQ, WIDTH))
    b.emit(f"{x}_e = tensor.empty() : {ty((SEQ, WIDTH))}")
    b.emit(f"{x} = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0)>, "
           f"affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], "
           f"iterator_types = [\"parallel\", \"parallel\"]}} ins({tokens}, {wpe} : "
           f"tensor<{SEQ}xi32>, {ty((SEQ, WIDTH))}) outs({x}_e : {ty((SEQ, WIDTH))}) {{")
    b.emit("^bb0(%t: i32, %p: f32, %acc: f32):")
    b.emit("  %j = linalg.index 1 : index")
    b.emit("  %i = arith.index_cast %t : i32 to index")
    b.emit(f"  %e = tensor.extract {wte}[%i, %j] : {ty((VOCAB, WIDTH))}")
    b.emit("  %r = arith.addf %e, %p : f32")
    b.emit("  linalg.yield %r : f32")
    b.emit(f"}} -> {ty((SEQ, WIDTH))}")
    for _ in range(LAYERS):
        x = b.add(x, attention(b, layer_norm(b, x)))
        x = b.add(x, linear(b, gelu(b, linear(b, layer_norm(b, x), 4 * WIDTH)), WIDTH))
    x = layer_norm(b, x)
    wt = b.v((WIDTH, VOCAB))
    b.emit(f"{wt}_e = tensor.empty() : {ty((WIDTH, VOCAB))}")
    b.emit(f"{wt} = linalg.transpose ins({wte} : {ty((VOCAB, WIDTH))}) "
           f"outs({wt}_e : {ty((WIDTH, VOCAB))}) permutation = [1, 0]")
    logits = b.matmul(x, wt)
    text = b.module("main$async", [tokens], logits)
    text = text.replace(f"%tokens: {ty((SEQ,))}", f"%tokens: tensor<{SEQ}xi32>")
    sys.stdout.write(text)

if __name__ == "__main__":
    main()
