"""``iree-lab debug``: the pdb-like prompt, driven by scripted stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from iree_lab import samples
from iree_lab.testing import corpus

DBGNATIVE = str(Path(__file__).parent / "programs" / "debug" / "dbgnative.py")


def debug(*flags: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iree_lab", "debug", *flags], input=script,
                          capture_output=True, text=True, timeout=120, check=False)


def test_scripted_session_on_a_scalar_loop():
    path = corpus.build("scalar_vmvx")
    script = "\n".join([
        "step", "step 5", "regs", "break loop_sum+4F if i2 > 0", "info", "continue",
        "print i2", "print i64(0)", "stack", "list", "next", "back 2", "rc", "watch i2",
        "continue", "delete 2", "disable 1", "continue", "bogus", "print nosuch", "quit",
    ]) + "\n"
    result = debug(f"--module={path}", "--function=loop_sum", "--input=4", script=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "[entry] position 1 module.loop_sum+00000000    <block>"
    assert out[1] == "[step] position 2 module.loop_sum+00000001    %i2:3 = vm.const.i64.zero"
    assert out[2].startswith("[step] position 7 module.loop_sum+0000002B")
    assert "  %i6   0x00000004  i32=4  f32=5.60519386e-45  i64=4  f64=1.9762625833649862e-323" in out
    assert "Breakpoint #1 loop_sum+0000004F if i2 > 0 hits=0" in out
    hit = next(line for line in out if line.startswith("[breakpoint]"))
    assert hit.startswith("[breakpoint] position 23 module.loop_sum+0000004F")
    assert hit.endswith("%i0:1 = vm.add.i64 %i0:1(2), %i4:5(1)  breakpoint #1")
    assert out[out.index(hit) + 4:out.index(hit) + 6] == ["1", "2"]  # print i2, i64(0)
    assert "> #0 module.loop_sum+0000004F" in out
    assert ">* 0000004F  %i0:1 = vm.add.i64 %i0:1, %i4:5" in out
    assert any(line.startswith("[step] position 22 ") for line in out)  # next, back 2
    assert any(line.startswith("[start] position 1 ") for line in out)  # rc: no earlier hit
    assert any(line.startswith("[watchpoint] position 19 ") and "watch #2: 0 -> 1" in line
               for line in out)
    assert out[-3] == "[done] position 33 (after): returned result[0]: i32=6"
    assert out[-2] == "*** unknown command: bogus (try `help`)"
    assert out[-1] == "*** no frames (the program is not stopped inside a function)"


def test_session_steps_into_a_dispatch_and_shows_buffer_views():
    script = "\n".join([
        "break dispatch", "break import:hal.fence.await", "continue", "stack", "regs",
        "finish", "continue", "print r1", "continue",
    ]) + "\n"
    result = debug(f"--module={samples.path('mlp')}", "--function=predict",
                   "--input=1x8xf32=1 2 3 4 5 6 7 8", script=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    init = debug(f"--module={samples.path('mlp')}", "--function=predict", "--init",
                 "--input=1x8xf32=1 2 3 4 5 6 7 8",
                 script="break import:hal.command_buffer.dispatch\ncontinue\nstack\n")
    assert init.stdout.startswith("[entry] position 1 module.__init+00000000    <block>")
    assert "> #1 module.fn0+00000090" in init.stdout
    assert "[breakpoint] position 28 module.predict_dispatch_0_matmul_1x4x8_f32+00000000" in out
    assert "  #1 hal.device.queue.execute.indirect (import)" in out
    assert "> #2 module.predict_dispatch_0_matmul_1x4x8_f32+00000000 workgroup (0, 0, 0)" in out
    assert "breakpoint #2" in out and "vm.call.variadic.yieldable @hal.fence.await" in out
    assert "!hal.fence/0x" in out
    assert "result[0]: hal.buffer_view\n1x4xf32=[10.1 13.55 11.3 14.6]" in out


def test_source_lines_and_native_modules_on_the_command_line():
    script = "break source.mlir:28\ncontinue\nlist\ncontinue\n"
    result = debug(f"--module={corpus.build('debug_source')}", "--function=collatz",
                   "--input=6", script=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    at = next(line for line in out if line.startswith("  at "))
    assert at.endswith("source.mlir:28:12: %h = arith.divsi %v, %c2 : i32")
    assert any(line.startswith(">    28  ") for line in out)
    script = "break op:vm.call.yieldable\ncontinue\nstep\nstack\ncontinue\n"
    result = debug(f"--module={DBGNATIVE}", f"--module={corpus.build('debug_app')}",
                   "--function=work", "--input=1", "--replay_imports=dbgnative.*",
                   script=script)
    assert result.returncode == 0, result.stderr
    assert "[suspend] position" in result.stdout
    assert "> #1 dbgnative.slow_double (native)" in result.stdout
    assert "[done]" in result.stdout


def test_bad_invocations_fail_cleanly(tmp_path):
    result = debug("--function=f", script="")
    assert result.returncode == 1 and "no module" in result.stderr
    result = debug(f"--module={corpus.build('scalar_vmvx')}", "--function=nope", script="")
    assert result.returncode == 1 and "nope" in result.stderr
    bad = tmp_path / "bad.vmfb"
    bad.write_bytes(b"not a module")
    result = debug(f"--module={bad}", "--function=f", script="")
    assert result.returncode == 1 and "Traceback" not in result.stderr
