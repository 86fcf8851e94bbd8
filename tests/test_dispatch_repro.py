"""``iree-lab extract-dispatch`` / ``run-dispatch``: a dispatch of a real run, alone.

Every dispatch of ``tests/programs/compare/chain.mlir`` (vmvx and llvm-cpu;
the third has an offset constant and aliasing bindings) is extracted; the
repro must reproduce every binding bit for bit through ``iree-lab
run-dispatch``, and its ``iree-benchmark-executable`` command must run.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from test_compare import build, inputs  # noqa: F401 (fixture)

from iree_lab.cli.main import main
from iree_lab.testing import corpus


def _extract(capsys, module, inputs, ordinal, folder):  # noqa: F811
    capsys.readouterr()
    code = main(["extract-dispatch", module, "--function=main", *inputs,
                 f"--dispatch={ordinal}", "--output-dir", str(folder)])
    return code, capsys.readouterr()


@pytest.mark.parametrize("backend", ["vmvx", "llvm_cpu"])
@pytest.mark.parametrize("ordinal", [0, 1, 2])
def test_extracted_dispatch_reproduces_bit_for_bit(capsys, tmp_path, inputs, backend,  # noqa: F811
                                                   ordinal):
    folder = tmp_path / "repro"
    code, out = _extract(capsys, build("same", backend), inputs, ordinal, folder)
    assert code == 0, out.err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["export_name"] == f"main_dispatch_{ordinal % 2}_matmul_8x16x16_f32"
    assert manifest["workgroup_count"] == [1, 1, 1]
    assert manifest["constants"] == {0: [0], 1: [], 2: [512]}[ordinal]
    assert [b["expected"] is not None for b in manifest["bindings"]] == \
        {0: [False, False, True], 1: [True, False, True], 2: [False, False, True]}[ordinal]
    assert np.load(folder / "binding_1.npy").dtype == np.float32
    code = main(["run-dispatch", str(folder)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1] == "reproduced bit for bit"
    assert out.count("bit-identical") == 3


FLAVOURS = {"vmvx": ("vmvx", ()), "embedded_elf": ("llvm_cpu", ()),
            "system_elf": ("llvm_cpu", ("--iree-llvmcpu-link-embedded=false",))}


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_benchmark_command_runs(capsys, tmp_path, inputs, flavour):  # noqa: F811
    folder = tmp_path / "repro"
    backend, extra = FLAVOURS[flavour]
    module = build("same", backend, extra, name=f"compare_chain_{flavour}")
    assert _extract(capsys, module, inputs, 2, folder)[0] == 0
    assert main(["run-dispatch", str(folder)]) == 0
    tool = corpus.tool_path("iree-benchmark-executable")
    flags = (folder / "benchmark.flags").read_text().split()
    assert "--constant=512" in flags
    result = subprocess.run([tool, *flags, "--benchmark_min_time=1x"], cwd=folder,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "BM_dispatch_1x1x1" in result.stdout
    # The script does the same from anywhere, with the tool on PATH.
    env = dict(os.environ, PATH=os.path.dirname(tool) + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["sh", str(folder / "benchmark.sh"), "--benchmark_min_time=1x"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr


def test_run_dispatch_notices_a_wrong_expectation(capsys, tmp_path, inputs):  # noqa: F811
    folder = tmp_path / "repro"
    assert _extract(capsys, build("same", "llvm_cpu"), inputs, 0, folder)[0] == 0
    expected = np.load(folder / "expected_2.npy")
    expected[130] = np.nextafter(expected[130], np.float32(np.inf))  # one ulp
    np.save(folder / "expected_2.npy", expected)
    assert main(["run-dispatch", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "binding 2 (output, 1024 bytes): 1 of 1024 bytes differ, first at byte 520" in out
    assert out.splitlines()[-1] == "NOT reproduced"


def test_bad_requests_are_clear_errors(capsys, tmp_path, inputs):  # noqa: F811
    code, out = _extract(capsys, build(), inputs, 3, tmp_path / "r")
    assert code == 1
    assert "--dispatch=3 is out of range: the run executed 3 dispatches (0..2)" in out.err
    assert main(["run-dispatch", str(tmp_path / "nowhere")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["model_resnet18_small_llvm_cpu", "model_transformer_llvm_cpu"])
def test_every_model_dispatch_reproduces(tmp_path, name):
    """Each dispatch of a real-model-shaped run (native llvm-cpu), alone, bit for bit."""
    from test_compare import model_builds, model_input

    from iree_lab.debug.compare import record_run
    from iree_lab.debug.repro import run_dispatch, write_repro

    host, _ = model_builds(name)
    run = record_run([host], "main$async",
                     [model_input(name, tmp_path).removeprefix("--input=")],
                     tmp_path / "spill", keep_executable_data=True)
    assert len(run.dispatches) > 10
    for ordinal in range(len(run.dispatches)):
        folder = tmp_path / f"d{ordinal}"
        manifest = write_repro(run, ordinal, folder)
        assert manifest["executable"]["format"] == "embedded-elf-x86_64"
        results = run_dispatch(folder)
        assert [r.binding for r in results if not r.identical] == [], ordinal
        assert any(r.written for r in results)
    # The largest one also runs under iree-benchmark-executable.
    tool = corpus.tool_path("iree-benchmark-executable")
    flags = (tmp_path / "d1" / "benchmark.flags").read_text().split()
    result = subprocess.run([tool, *flags, "--benchmark_min_time=1x"], cwd=tmp_path / "d1",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_run_dispatch_devices(capsys, tmp_path, inputs):  # noqa: F811
    folder = tmp_path / "repro"
    assert _extract(capsys, build("same", "llvm_cpu"), inputs, 1, folder)[0] == 0
    # Workgroups on a thread pool: the same bits.
    assert main(["run-dispatch", str(folder), "--device=local-task"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "reproduced bit for bit"
    # A native executable where native code is refused: a clear error, not a crash.
    assert main(["run-dispatch", str(folder), "--no_native"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("iree-lab run-dispatch: running the dispatch of ") and \
        "embedded-elf-x86_64" in err
