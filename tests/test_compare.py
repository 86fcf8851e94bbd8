"""``iree-lab compare``: differential tests on pairs of builds of tests/programs/compare.

``chain.mlir`` runs three dispatches (matmul + epilogue each; the third reuses
the first's executable function with an offset constant, and its bindings
alias). Variants replace the op marked ``STAGE1`` (in dispatch 1) in a copy of
the source: a different op, or one that yields NaN.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from iree_lab.debug import compare as cmp
from iree_lab.hal.recorder import DispatchExecution, ResolvedBinding
from iree_lab.testing import corpus

SOURCE = corpus.PROGRAMS_DIR / "compare" / "chain.mlir"
STAGE1 = "%t = arith.mulf %in, %half : f32  // STAGE1"
TANH = "%t = math.tanh %in : f32"


def _replace_tanh(text: str, last: bool) -> str:
    """The epilogue of dispatch 0 (first tanh) or 2 (last tanh) becomes a sine."""
    i = text.rindex(TANH) if last else text.index(TANH)
    return text[:i] + "%t = math.sin %in : f32" + text[i + len(TANH):]


VARIANTS = {
    "same": lambda text: text,
    "changed": lambda text: text.replace(STAGE1, "%t = arith.addf %in, %half : f32"),
    "changed0": lambda text: _replace_tanh(text, last=False),
    "changed2": lambda text: _replace_tanh(text, last=True),
    "nan": lambda text: text.replace(STAGE1, "%c = arith.constant -4.0 : f32\n      "
                                     "%n = arith.addf %in, %c : f32\n      %t = math.sqrt %n : f32"),
}
BACKENDS = {"vmvx": corpus._LOCAL_VMVX, "llvm_cpu": corpus._LOCAL_LLVM_CPU}


def build(variant: str = "same", backend: str = "vmvx", extra=(), name: str = "") -> str:
    source = SOURCE
    if variant != "same":
        text = SOURCE.read_text()
        assert STAGE1 in text and text.count(TANH) == 2
        source = corpus.cache_dir() / f"compare_chain_{variant}.mlir"
        source.write_text(VARIANTS[variant](text))
        assert source.read_text() != text
    flags = tuple(BACKENDS[backend]) + tuple(extra)
    return str(corpus.build(corpus.Program(name or f"compare_chain_{variant}_{backend}",
                                           str(source), flags)))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(18)
    np.save(folder / "x.npy", rng.standard_normal((8, 16)).astype(np.float32))
    np.save(folder / "w.npy", (rng.standard_normal((16, 16)) * 0.3).astype(np.float32))
    return [f"--input=@{folder / 'x.npy'}", f"--input=@{folder / 'w.npy'}"]


def run_compare(capsys, a, b, inputs, *extra, function: str = "main"):
    from iree_lab.cli.main import main

    capsys.readouterr()
    code = main(["compare", a, b, f"--function={function}", *inputs, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lines(out: str) -> list[str]:
    return out.strip().splitlines()


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_identical_builds_do_not_diverge(capsys, inputs, backend):
    a = build("same", backend)
    # A second build of the same source with other (numerics-neutral) flags.
    b = build("same", backend, ["--iree-vm-bytecode-module-strip-source-map"])
    assert a != b
    code, out, err = run_compare(capsys, a, b, inputs)
    assert code == 0, out + err
    assert _lines(out)[-1] == "no divergence (3 dispatches compared)"
    rows = _lines(out)[1:4]
    assert [r.split()[0] for r in rows] == ["0", "1", "2"]
    assert all(" 0 " in r and r.endswith("agree") for r in rows)  # max abs 0


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize(("variant", "k"), [("changed0", 0), ("changed", 1), ("changed2", 2)])
def test_changed_op_names_its_dispatch(capsys, inputs, backend, variant, k):
    code, out, _ = run_compare(capsys, build("same", backend), build(variant, backend), inputs)
    assert code == 1
    export = f"main_dispatch_{k % 2}_matmul_8x16x16_f32"  # dispatch 2 reuses 0's function
    assert f"first divergence: dispatch {k} {export}" in _lines(out)
    rows = _lines(out)[1:4]
    for row in rows[:k]:
        assert row.endswith("agree") and " 0/128 " in row  # bit-identical before k
    assert rows[k].endswith("agree") and " 0/128 " not in rows[k]  # inputs agree, outputs not
    for row in rows[k + 1:]:
        assert row.endswith("DIFFER")  # later dispatches read k's output


def test_data_tiled_build_cannot_be_paired(capsys, inputs):
    """Data tiling adds encoding dispatches: reported as ambiguous, nothing guessed."""
    tiled = build("same", "llvm_cpu", ["--iree-llvmcpu-target-cpu=host",
                                       "--iree-llvmcpu-enable-ukernels=all",
                                       "--iree-dispatch-creation-data-tiling"],
                  name="compare_chain_data_tiled")
    code, out, _ = run_compare(capsys, build("same", "llvm_cpu"), tiled, inputs)
    assert code == 1
    assert _lines(out)[-1] == (
        "pairing is ambiguous at dispatch 0: export main_dispatch_0_matmul_8x16x16_f32 vs "
        "_encoding_0_encode_8x16xf32_to_8x16xf32; the builds split the program into different "
        "dispatches, so nothing after it is compared")
    assert len(_lines(out)) == 2  # the header, no rows


def test_progress_is_reported(inputs):
    messages = []
    comparison = cmp.compare_modules([build()], [build()], "main",
                                     [i.removeprefix("--input=") for i in inputs],
                                     progress=messages.append)
    comparison.cleanup()
    assert messages == ["running A: dispatch 0", "running A: dispatch 1", "running A: dispatch 2",
                        "running B: dispatch 0", "running B: dispatch 1", "running B: dispatch 2",
                        "comparing: dispatch 1/3", "comparing: dispatch 2/3",
                        "comparing: dispatch 3/3"]


def test_vmvx_vs_llvm_cpu_within_default_tolerance(capsys, inputs):
    code, out, err = run_compare(capsys, build("same", "vmvx"), build("same", "llvm_cpu"),
                                 inputs)
    assert code == 0, out + err
    assert _lines(out)[-1] == "no divergence (3 dispatches compared)"
    # They differ in the last bits (different tanh, summation order): zero tolerance says so.
    code, out, _ = run_compare(capsys, build("same", "vmvx"), build("same", "llvm_cpu"),
                               inputs, "--atol=0", "--rtol=0")
    assert code == 1
    assert "first divergence: dispatch 0 main_dispatch_0_matmul_8x16x16_f32" in _lines(out)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_nan_is_named(capsys, inputs, backend):
    code, out, _ = run_compare(capsys, build("same", backend), build("nan", backend), inputs)
    assert code == 1
    assert "first divergence: dispatch 1 main_dispatch_1_matmul_8x16x16_f32" in _lines(out)
    row = _lines(out)[2]
    assert " inf " in row and " 128 " in row  # every written element became NaN


def test_comparison_details(inputs):
    comparison = cmp.compare_modules([build("same")], [build("nan", "llvm_cpu")], "main",
                                     [i.removeprefix("--input=") for i in inputs])
    try:
        d = comparison.first_divergence
        assert d.ordinal == 1 and d.inputs_agree
        assert [b.binding for b in d.outputs] == [0]  # binding 2 is the same range
        assert d.bindings[2].alias_of == 0
        out = d.outputs[0]
        assert out.element == "f32" and out.nan_differences == out.differing == 128
        assert out.first_index == 128  # the second half of the aliased buffer
        assert comparison.dispatches[2].inputs_agree is False
        # The spilled captures are on disk, not in the recorders.
        assert all(not r.snapshots for r in comparison.a.dispatches)
        # Each distinct byte string is stored once: the weights (bound by all three
        # dispatches) and the unchanged inputs are not written again.
        rec = comparison.a.recorder
        assert 0 < rec.spilled_bytes < rec.captured_bytes
        assert rec.digest(0, 1) == rec.digest(1, 1) == rec.digest(2, 1)  # w
        assert len(list(rec.folder.iterdir())) == len(
            {digest for pair in rec._digests.values() for digest in pair})
    finally:
        comparison.cleanup()
    assert not comparison.a.recorder.folder.exists()


def test_compare_values_rules():
    f = np.dtype(np.float32)
    a = np.array([1.0, np.nan, np.inf, 0.0, 2.0], np.float32)
    b = np.array([1.0 + 1e-6, np.nan, -np.inf, 1e-7, np.nan], np.float32)
    r = cmp.compare_values(a, b, f, 1e-5, 1e-4)
    assert (r["differing"], r["nan_differences"], r["inf_differences"]) == (2, 1, 1)
    assert r["first_index"] == 2
    r = cmp.compare_values(a[:4], b[:4], f, 0.0, 0.0)
    assert r["differing"] == 3 and r["first_index"] == 0
    i = np.dtype(np.int32)
    r = cmp.compare_values(np.array([1, 2, 3], np.int32), np.array([1, 2, 4], np.int32), i,
                           1.0, 1.0)
    assert r["differing"] == 1 and r["first_index"] == 2 and r["max_abs"] == 1.0


def _dispatch(name, lengths):
    return DispatchExecution(None, None, 0, 0, 0, name, (1, 1, 1), (),
                             tuple(ResolvedBinding(0, 0, n) for n in lengths), 0)


def test_pairing_reports_ambiguity():
    assert cmp.export_shape("main_dispatch_12_matmul_8x16_f32") == "matmul_8x16_f32"
    a = _dispatch("main_dispatch_0_matmul_8x16_f32", [64, 64])
    assert cmp.pairing_mismatch(a, _dispatch("main_dispatch_3_matmul_8x16_f32", [64, 64])) \
        is None
    assert cmp.pairing_mismatch(a, _dispatch("main_dispatch_0_matmul_8x32_f32", [64, 64])) \
        == "export main_dispatch_0_matmul_8x16_f32 vs main_dispatch_0_matmul_8x32_f32"
    assert cmp.pairing_mismatch(a, _dispatch("main_dispatch_0_matmul_8x16_f32", [64, 32])) \
        == "binding 1 is 64 vs 32 bytes"


def test_builds_with_other_signatures_are_an_error(capsys, inputs, tmp_path):
    # A program whose dispatches differ in shape from chain.mlir's.
    source = tmp_path / "other.mlir"
    source.write_text(SOURCE.read_text().replace("tensor<8x16xf32>", "tensor<4x16xf32>"))
    other = str(corpus.build(corpus.Program("compare_chain_4rows", str(source),
                                            tuple(corpus._LOCAL_VMVX))))
    code, out, err = run_compare(capsys, build(), other, inputs)
    assert code == 2 and "iree-lab compare:" in err  # B refuses A's 8x16 input
    assert out == ""


def test_bad_module_is_a_clear_error(capsys, inputs, tmp_path):
    spill = tmp_path / "spill"
    spill.mkdir()
    code, _, err = run_compare(capsys, build(), str(tmp_path / "missing.vmfb"), inputs,
                               f"--spill_dir={spill}")
    assert code == 2
    assert "cannot open module" in err and "missing.vmfb" in err
    assert list(spill.iterdir()) == []  # A's captures are removed too


# Real-model-shaped programs (corpus models, tests/programs/models/) built for the host CPU
# and for a generic x86-64 (other vector widths, no FMA): the same numbers within tolerance.
# name -> (input element type, input shape)
MODELS = {"model_resnet18_small_llvm_cpu": ("f32", (1, 3, 64, 64)),
          "model_transformer_llvm_cpu": ("i32", (32,))}


def model_builds(name: str) -> tuple[str, str]:
    import dataclasses

    generic = corpus.find_program(name)
    flags = [f for f in generic.flags if not f.startswith("--iree-llvmcpu-target-cpu=")]
    host = dataclasses.replace(generic, name=f"{name}_host",
                               flags=(*flags, "--iree-llvmcpu-target-cpu=host"))
    return str(corpus.build(host)), str(corpus.build(generic))


def model_input(name: str, folder) -> str:
    dtype, shape = MODELS[name]
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape).astype(np.float32) if dtype == "f32"
         else rng.integers(0, 2048, shape).astype(np.int32))
    np.save(folder / "x.npy", x)
    return f"--input=@{folder / 'x.npy'}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_builds_for_two_cpus_agree(capsys, tmp_path, name):
    host, generic = model_builds(name)
    code, out, err = run_compare(capsys, host, generic, [model_input(name, tmp_path)],
                                 function="main$async")
    assert code == 0, out + err
    assert re.fullmatch(r"no divergence \(\d+ dispatches compared\)", _lines(out)[-1])
    # Copies and a softmax store whose export names carry no element type are read as
    # the f32 their neighbours name, not as raw bytes (which would differ in last bits).
    assert " b0:hex " not in out and " b1:hex " not in out
    code, out, _ = run_compare(capsys, host, generic, [model_input(name, tmp_path)],
                               "--atol=0", "--rtol=0", function="main$async")
    assert code == 1 and "first divergence: dispatch " in out


def test_cli_progress_on_a_tty_and_local_task(capsys, monkeypatch, inputs, tmp_path):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = run_compare(capsys, build("same", "llvm_cpu"), build("same", "vmvx"),
                                 inputs, "--device=local-task", f"--spill_dir={tmp_path}")
    assert code == 0, out + err
    assert "\r\x1b[Krunning A: dispatch 0" in err and "comparing: dispatch 3/3" in err
    assert err.endswith("\r\x1b[K")  # the progress line is cleared before the table
    assert list(tmp_path.iterdir()) == []  # the spilled captures are removed


def test_inline_modules_compare_their_hal_loader_dispatches(capsys, inputs):
    """inline-dynamic builds dispatch through hal_loader, which the recorder sees too."""
    inline = build("same", "llvm_cpu", ["--iree-execution-model=inline-dynamic"],
                   name="compare_chain_inline")
    code, out, err = run_compare(capsys, inline, build("same", "vmvx"), inputs)
    assert code == 0, out + err
    assert _lines(out)[-1] == "no divergence (3 dispatches compared)"


def test_sync_vmvx_vs_async_llvm_cpu(capsys, inputs):
    """An async-external (coarse-fences) build runs as a fiber; its dispatches pair too."""
    async_build = build("same", "llvm_cpu", ["--iree-execution-model=async-external"],
                        name="compare_chain_async")
    code, out, err = run_compare(capsys, build("same", "vmvx"), async_build, inputs)
    assert code == 0, out + err
    assert _lines(out)[-1] == "no divergence (3 dispatches compared)"
