"""Writes (to stdout) a ResNet-18 in MLIR: torchvision's architecture (batch norms folded into
per-channel biases, as exporters do), 1x3x224x224 input, 11.7M f32 weights (~47 MB)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlirgen import Builder  # noqa: E402


def block(b, x, cout, stride):
    cin = b.shapes[x][1]
    y = b.bias_channel(b.conv(x, cout, 3, stride, 1), b.weight((cout,), 0.01), relu=True)
    y = b.bias_channel(b.conv(y, cout, 3, 1, 1), b.weight((cout,), 0.01), relu=False)
    if stride != 1 or cin != cout:
        x = b.bias_channel(b.conv(x, cout, 1, stride, 0), b.weight((cout,), 0.01), relu=False)
    return b.add_relu(y, x)


def main():
    b = Builder(seed=18)
    x = b.arg("input", (1, 3, 224, 224))
    y = b.bias_channel(b.conv(x, 64, 7, 2, 3), b.weight((64,), 0.01), relu=True)
    y = b.maxpool(y, 3, 2, 1)
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        y = block(b, y, cout, stride)
        y = block(b, y, cout, 1)
    n, c, hh, ww = b.shapes[y]
    pooled = b.generic((n, c), [(y, ["d0", "d1", "d2", "d3"])],
                       ["%r = arith.addf %a0, %acc : f32"], reduce_dims=(hh, ww))
    inv = b.scalar(1.0 / (hh * ww))
    mean = b.generic((n, c), [(pooled, ["d0", "d1"])], [f"%r = arith.mulf %a0, {inv} : f32"])
    logits = b.matmul(mean, b.weight((512, 1000)))
    out = b.generic((1, 1000), [(logits, ["d0", "d1"]), (b.weight((1000,), 0.01), ["d1"])],
                    ["%r = arith.addf %a0, %a1 : f32"])
    sys.stdout.write(b.module("main$async", [x], out))


if __name__ == "__main__":
    main()
