"""Writes (to stdout) a ResNet-18 in MLIR: torchvision's architecture (batch norms folded into
per-channel biases, as exporters do), 1x3x224x224 input, 11.7M f32 weights (~47 MB).
Options shrink it (--width, --image, --classes) or externalize its weights (--params)."""

import argparse
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=64, help="channels of the first stage")
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--params", metavar="FILE",
                        help="externalize the weights: write them to this .safetensors file")
    args = parser.parse_args()
    b = Builder(seed=18, params=bool(args.params))
    w = args.width
    x = b.arg("input", (1, 3, args.image, args.image))
    y = b.bias_channel(b.conv(x, w, 7, 2, 3), b.weight((w,), 0.01), relu=True)
    y = b.maxpool(y, 3, 2, 1)
    for cout, stride in ((w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)):
        y = block(b, y, cout, stride)
        y = block(b, y, cout, 1)
    n, c, hh, ww = b.shapes[y]
    pooled = b.generic((n, c), [(y, ["d0", "d1", "d2", "d3"])],
                       ["%r = arith.addf %a0, %acc : f32"], reduce_dims=(hh, ww))
    inv = b.scalar(1.0 / (hh * ww))
    mean = b.generic((n, c), [(pooled, ["d0", "d1"])], [f"%r = arith.mulf %a0, {inv} : f32"])
    logits = b.matmul(mean, b.weight((8 * w, args.classes)))
    out = b.generic((1, args.classes), [(logits, ["d0", "d1"]),
                                        (b.weight((args.classes,), 0.01), ["d1"])],
                    ["%r = arith.addf %a0, %a1 : f32"])
    sys.stdout.write(b.module("main$async", [x], out))
    if args.params:
        b.write_safetensors(args.params)


if __name__ == "__main__":
    main()
