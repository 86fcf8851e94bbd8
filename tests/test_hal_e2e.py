"""Tensor programs end to end: iree_lab's VM + Python HAL vs iree-run-module --device=local-sync.

Every case compiles an MLIR program of ``tests/programs/hal`` for VMVX, runs a
function through ``iree-run-module`` and through iree_lab (the ``hal`` module in
Python, dispatches executed by the VMVX loader in a nested VM) and requires
byte-identical stdout. Stateful programs are compared call by call against
``iree.runtime`` with the same device. Output truncation
(``--output_max_element_count``) and ``--device=local-task`` go through
``iree-lab run`` in process. The same CASES run in the microkernel + data-tiling
(test_hal_ukernels.py), inline-dynamic (test_hal_inline.py) and async-external
(test_hal_async.py) flavours.
"""

from __future__ import annotations

import numpy as np
import pytest

from iree_lab import vm
from iree_lab.hal import Device, Recorder, io
from iree_lab.hal.module import HALModule

F32_16A = "16xf32=" + " ".join(str(v) for v in np.linspace(-3.5, 4.25, 16))
F32_16B = "16xf32=" + " ".join(str(v) for v in np.linspace(0.5, 2.0, 16)[::-1])
SEQ = " ".join(str(float(v)) for v in np.arange(1, 129) * 0.25 - 9)


def _seq(shape, element_type: str, value) -> str:
    """An --input value whose i-th element is value(i)."""
    count = int(np.prod(shape))
    dims = "x".join(str(d) for d in shape)
    return f"{dims}x{element_type}=" + " ".join(str(value(i)) for i in range(count))


# Inputs of the larger-shape functions (results beyond the 1024 printed elements).
BATCH_MATMUL_LARGE = [_seq((4, 32, 24), "f32", lambda i: i % 11 - 5),
                      _seq((4, 24, 16), "f32", lambda i: (i * 3) % 8 * 0.5 - 2)]
CONV2D_LARGE = [_seq((1, 18, 18, 4), "f32", lambda i: i % 13 * 0.25 - 1.5),
                _seq((3, 3, 4, 8), "f32", lambda i: (i * 7) % 9 - 4)]
LAYERNORM = [_seq((4, 16), "f32", lambda i: (i * 7) % 23 * 0.3 - 2),
             _seq((16,), "f32", lambda i: 1 + i * 0.0625),
             _seq((16,), "f32", lambda i: i % 4 * 0.25 - 0.5)]

def _normal(shape, seed: int) -> str:
    """An f32 --input of standard normal values: products and sums all round."""
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return _seq(shape, "f32", lambda i: repr(float(values.flat[i])))


# Denormals (1e-45, 1e-39, the largest one), zeros, normals and the smallest normal.
DENORMALS_A = ("2x8xf32=1e-45 -1e-45 1e-39 -3e-39 1.1754942e-38 1.17549435e-38 0 -0 "
               "2.5 1e-20 -1e-20 3e-38 7 -1 1e-30 1e10")
DENORMALS_B = "2x8xf32=1 1e-45 -1e-41 2e-39 -1 0.5 5 -2e-39 1e-30 1e-19 1e-19 0.25 -103 -87.5 1e-10 1e-30"

# (program, function, inputs)
CASES = [
    ("elementwise", "chain", [F32_16A, F32_16B]),
    ("elementwise", "transcendental", ["8xf32=-2 -0.5 0 0.25 1 1.5 3 7.75"]),
    ("elementwise", "int_ops", ["8xi32=1 -2 3 -4 100 -100 2147483647 0",
                                "8xi32=3 1 0 2 5 31 1 -7"]),
    ("elementwise", "i8_ops", ["8xi8=1 -2 127 -128 50 60 -70 0", "8xi8=1 1 1 -1 100 -3 7 -128"]),
    ("elementwise", "dynamic", ["2x3xf32=1 2 3 4 5 6", "2x3xf32=0.5"]),
    ("elementwise", "dynamic", ["1x5xf32=-1 -2 -3 -4 -5", "1x5xf32=2 2 2 2 2"]),
    ("elementwise", "select_cast", ["6xf32=-1.5 2.5 3.75 -0.5 9 0.49", "6xi32=0 3 3 -1 8 1"]),
    ("elementwise", "denormals", [DENORMALS_A, DENORMALS_B]),
    ("elementwise", "exp_log", [_seq((4, 64), "f32", lambda i: (i * 37) % 251 * 0.07 - 8.5)]),
    ("linalg", "matmul", ["8x16xf32=" + " ".join(str(i % 7 - 3) for i in range(128)),
                          "16x4xf32=" + " ".join(str((i % 5) * 0.5) for i in range(64))]),
    ("linalg", "matmul_i32", ["4x6xi32=" + " ".join(str(i - 12) for i in range(24)),
                              "6x3xi32=" + " ".join(str(2 * i - 9) for i in range(18))]),
    ("linalg", "row_sum", ["4x8xf32=" + " ".join(str(i * 0.125) for i in range(32))]),
    ("linalg", "max_all", ["32xi32=" + " ".join(str((i * 37) % 101 - 50) for i in range(32))]),
    ("linalg", "softmax", ["2x8xf32=0 1 2 3 4 5 6 7 -1 -1 -1 -1 0 0 0 10"]),
    ("linalg", "transpose", ["3x5xf32=" + " ".join(str(i) for i in range(15))]),
    ("linalg", "concat_slice", ["4x3xf32=" + " ".join(str(i) for i in range(12)),
                                "2x3xf32=-1 -2 -3 -4 -5 -6"]),
    ("linalg", "dynamic_matmul", ["3x2xf32=1 2 3 4 5 6", "2x4xf32=1 0 -1 2 0.5 0.25 3 1"]),
    ("linalg", "dynamic_matmul", ["1x1xf32=3", "1x1xf32=-2"]),
    # Rounding in every step: the order of the sums and fused multiply-adds matter.
    ("linalg", "dynamic_matmul", [_normal((3, 9), 1), _normal((9, 17), 2)]),
    ("linalg", "dynamic_matmul", [_normal((33, 40), 3), _normal((40, 7), 4)]),
    ("stateful", "three_dispatches", ["4x4xf32=" + " ".join(str(i - 8) for i in range(16)),
                                      "4x4xf32=" + " ".join(str((i % 3) - 1) for i in range(16))]),
    ("control", "double_until", ["4xf32=0.5 1 -0.25 2", "100"]),
    ("control", "double_until", ["4xf32=0.5 1 -0.25 2", "-1"]),
    ("control", "branchy", ["6xi32=5 1 2 3 4 5", "3"]),
    ("control", "branchy", ["6xi32=5 1 2 3 4 5", "7"]),
    # nn.mlir: batch matmul, convolutions, layernorm, gathers, wide softmax, larger shapes.
    ("nn", "batch_matmul", [_seq((3, 4, 5), "f32", lambda i: (i % 7 - 3) * 0.5),
                            _seq((3, 5, 2), "f32", lambda i: i % 4 - 1.25)]),
    ("nn", "batch_matmul_i8", [_seq((2, 3, 8), "i8", lambda i: (i * 37) % 255 - 127),
                               _seq((2, 8, 5), "i8", lambda i: (i * 11) % 256 - 128)]),
    ("nn", "batch_matmul_dynamic", [_seq((2, 3, 4), "f32", lambda i: i * 0.25),
                                    _seq((2, 4, 3), "f32", lambda i: 1 - i * 0.125)]),
    ("nn", "batch_matmul_dynamic", ["1x1x2xf32=2 3", "1x2x1xf32=-1 4"]),
    ("nn", "batch_matmul_dynamic", [_normal((2, 20, 12), 5), _normal((2, 12, 20), 6)]),
    ("nn", "conv2d", [_normal((1, 6, 6, 2), 7), _normal((3, 3, 2, 4), 8)]),
    ("nn", "conv2d", [_seq((1, 6, 6, 2), "f32", lambda i: i % 9 - 4),
                      _seq((3, 3, 2, 4), "f32", lambda i: (i * 5) % 7 * 0.25 - 0.75)]),
    ("nn", "conv2d_bias_relu", [_seq((2, 7, 7, 3), "f32", lambda i: (i * 13) % 17 * 0.5 - 4),
                                _seq((2, 2, 3, 2), "f32", lambda i: i % 5 - 2), "2xf32=0.5 -3"]),
    ("nn", "conv2d_i8", [_seq((1, 5, 5, 4), "i8", lambda i: (i * 29) % 256 - 128),
                         _seq((3, 3, 4, 3), "i8", lambda i: (i * 7) % 256 - 128)]),
    ("nn", "depthwise_conv", [_seq((1, 5, 5, 3), "f32", lambda i: i * 0.1 - 3),
                              _seq((2, 2, 3), "f32", lambda i: i % 3 - 0.5)]),
    ("nn", "layernorm", LAYERNORM),
    ("nn", "gather", [_seq((6, 3), "f32", lambda i: i * 1.5), "4x1xi32=5 0 2 2"]),
    ("nn", "gather_computed", [_seq((5, 4), "i32", lambda i: i * i - 40), "6xi32=0 4 -3 9 2 1"]),
    ("nn", "softmax_wide", [_seq((16, 130), "f32", lambda i: (i * 31) % 97 * 0.05 - 2)]),
    ("nn", "batch_matmul_large", BATCH_MATMUL_LARGE),
    ("nn", "conv2d_large", CONV2D_LARGE),
    # ops.mlir: more ops.
    ("ops", "erf_log1p_pow", ["8xf32=-2.5 -0.5 0 0.25 1 1.5 3 7.75"]),
    ("ops", "trig", ["8xf32=-2.5 -0.5 0 0.25 1 1.5 3 7.75", "8xf32=1 -1 0 -0 2 -3 0.5 -7"]),
    ("ops", "int_div", ["8xi32=7 -7 7 -7 2147483647 -2147483648 100 0",
                        "8xi32=2 2 -2 -2 3 7 -9 5"]),
    ("ops", "i64_ops", ["4xi64=9223372036854775807 -5 3000000000 7",
                        "4xi64=2 -6 3 -9223372036854775808"]),
    ("ops", "sort", ["10xf32=3 -1 2.5 7 0 -8 1e-3 4 4 -0.5"]),
    ("ops", "cumsum", ["2x6xi32=1 2 3 4 5 6 -1 -2 10 20 30 2147483647"]),
    ("ops", "scatter", ["3x2xf32=1 2 3 4 5 6", "3x1xi32=4 0 4", "5x2xf32=0.5"]),
    ("ops", "maxpool", [_seq((1, 6, 6, 2), "f32", lambda i: (i * 17) % 23 - 11)]),
    ("ops", "pad", ["2x3xf32=1 2 3 4 5 6"]),
    ("ops", "argmax", ["3x5xf32=1 5 2 5 0 -1 -2 -3 -0.5 -4 9 9 9 9 10"]),
    # halfs.mlir / halfs_layout.mlir: f16 and bf16 tensors.
    ("halfs", "f16_gather", ["5x2xf16=1 2 3 4 5 6 7 8 9 10", "3x1xi32=4 0 4"]),
    ("halfs", "f16_negate_bits", ["6xf16=1 -2 0 -0 inf 1e-7"]),
    ("halfs", "f16_to_f32", ["10xf16=1 -2.5 0 -0 65504 6e-8 -1e-5 inf -inf nan"]),
    ("halfs", "bf16_square", ["6xbf16=1 -2 0 3.5 inf 1e-7"]),
    ("halfs", "f16_reverse_rows", [_seq((4, 3), "f16", lambda i: i * 0.5 - 2)]),
    ("halfs", "f16_reverse_rows", ["1x3xf16=0.1 0.2 0.3"]),
    ("halfs_layout", "f16_transpose", ["3x5xf16=1 2 3 4 5 6 7 8 9 10 11 12 13 14 0.1"]),
    ("halfs_layout", "f16_concat_slice", ["4x3xf16=0.5 1 2 3 4 5 6 7 8 9 10 11",
                                          "2x3xf16=-1 -2 -3 -4 -5 65504"]),
    ("halfs_layout", "bf16_transpose", ["2x3x2xbf16=1 2 3 4 5 6 7 8 9 10 11 3.14159"]),
    ("tensor", "add", ["4xf32=1 2 3 4", "4xf32=10 20 30 40"]),
    ("tensor", "matmul", ["4x8xf32=1.5", "8x4xf32=" + " ".join(str(i) for i in range(32))]),
    ("tensor", "sum", ["16xi32=" + " ".join(str(i * i) for i in range(16))]),
]

_MODULES = {"tensor": "tensor_vmvx"}


def _program(name: str) -> str:
    return _MODULES.get(name, f"hal_{name}")


@pytest.fixture(scope="module")
def contexts(build_module):
    cache = {}

    def get(program: str):
        if program not in cache:
            path = build_module(_program(program))
            device = Device(recorder=Recorder())
            ctx = vm.Context([HALModule([device]), vm.BytecodeModule.load(path)])
            cache[program] = (path, ctx, device)
        return cache[program]

    return get


def run_ours(ctx, device, function: str, inputs) -> str:
    fn = ctx.lookup_function(function)
    values = io.parse_inputs(device, fn.cconv.arguments, inputs)
    results = ctx.call_function(fn, values)
    return f"EXEC @{function}\n" + io.format_results(results, fn.cconv.results)


@pytest.mark.parametrize(("program", "function", "inputs"), CASES,
                         ids=[f"{c[0]}.{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_matches_iree_run_module(iree_tool, contexts, program, function, inputs):
    path, ctx, device = contexts(program)
    args = ["--device=local-sync", f"--module={path}", f"--function={function}"]
    expected = iree_tool("iree-run-module", *args, *[f"--input={i}" for i in inputs])
    assert run_ours(ctx, device, function, inputs) == expected.stdout.decode()


# (program, function, inputs, --output_max_element_count) through `iree-lab run`.
TRUNCATION_CASES = [
    ("nn", "batch_matmul_large", BATCH_MATMUL_LARGE, 100),
    ("nn", "conv2d_large", CONV2D_LARGE, 7),
    ("nn", "conv2d_large", CONV2D_LARGE, 2048),
    ("nn", "layernorm", LAYERNORM, 20),
    ("nn", "layernorm", LAYERNORM, 0),
    ("linalg", "concat_slice", next(c[2] for c in CASES if c[1] == "concat_slice"), 5),
]


def run_cli(capsys, args) -> tuple[int, str]:
    """``iree-lab run ARGS`` in process: exit code and stdout."""
    from iree_lab.cli.main import main

    capsys.readouterr()
    code = main(["run", *args])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("program", "function", "inputs", "count"), TRUNCATION_CASES,
                         ids=[f"{c[0]}.{c[1]}-{c[3]}" for c in TRUNCATION_CASES])
def test_output_truncation_matches_iree_run_module(iree_tool, build_module, capsys, program,
                                                   function, inputs, count):
    args = [f"--module={build_module(_program(program))}", f"--function={function}",
            *[f"--input={i}" for i in inputs], f"--output_max_element_count={count}"]
    expected = iree_tool("iree-run-module", "--device=local-sync", *args).stdout.decode()
    assert "..." in expected or count >= 2048
    assert run_cli(capsys, ["--device=local-sync", *args]) == (0, expected)


# local-task runs dispatches like local-sync (denormals flushed too).
LOCAL_TASK_CASES = [("elementwise", "denormals", [DENORMALS_A, DENORMALS_B]),
                    ("nn", "conv2d_bias_relu", next(c[2] for c in CASES
                                                    if c[1] == "conv2d_bias_relu"))]


@pytest.mark.parametrize(("program", "function", "inputs"), LOCAL_TASK_CASES,
                         ids=[f"{c[0]}.{c[1]}" for c in LOCAL_TASK_CASES])
def test_local_task_matches_iree_run_module(iree_tool, build_module, capsys, program, function,
                                            inputs):
    args = ["--device=local-task", f"--module={build_module(_program(program))}",
            f"--function={function}", *[f"--input={i}" for i in inputs]]
    expected = iree_tool("iree-run-module", *args).stdout.decode()
    assert run_cli(capsys, args) == (0, expected)


def test_stateful_globals_match_iree_runtime(build_module):
    """Tensor and scalar globals persist across calls exactly as in iree.runtime."""
    ireert = pytest.importorskip("iree.runtime")
    path = build_module("hal_stateful")
    config = ireert.Config("local-sync")
    ref_ctx = ireert.SystemContext(config=config)
    ref_ctx.add_vm_module(ireert.VmModule.mmap(config.vm_instance, str(path)))
    ref = ref_ctx.modules.module

    device = Device()
    ctx = vm.Context([HALModule([device]), vm.BytecodeModule.load(path)])
    fn = ctx.lookup_function("accumulate")
    inputs = [np.array([1, 2, 3, 4], np.float32), np.array([0.5, -1, 0.25, 8], np.float32),
              np.array([-10, 10, 1e-3, 0], np.float32)]
    for x in inputs:
        expected = np.asarray(ref.accumulate(x))
        (view,) = ctx.call_function(fn, [io.buffer_view_from_numpy(x, device)])
        got = view.to_numpy()
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    assert ctx.call("calls") == int(ref.calls()) == len(inputs)


def test_runtime_failure_matches_iree_run_module(iree_tool, contexts):
    """A shape mismatch fails inside hal.buffer_view.assert with IREE's message."""
    path, ctx, device = contexts("tensor")
    args = ["--device=local-sync", f"--module={path}", "--function=add",
            "--input=5xf32=1", "--input=4xf32=1"]
    ref = iree_tool("iree-run-module", *args, check=False)
    assert ref.returncode != 0
    fn = ctx.lookup_function("add")
    values = io.parse_inputs(device, fn.cconv.arguments, ["5xf32=1", "4xf32=1"])
    with pytest.raises(vm.VMError) as info:
        ctx.call_function(fn, values)
    error = info.value
    assert error.code.name == "INVALID_ARGUMENT"
    head = f"{error.code.name}; {error.message}; {error.annotations[0]}"
    assert head == ("INVALID_ARGUMENT; input0 shape dimension 0 mismatch; expected 4 but have "
                    "5; expected shape `4`, actual shape `5`")
    assert head in ref.stderr.decode()
