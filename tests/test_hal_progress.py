"""Progress of long HAL work (iree_lab/hal/progress.py): counts, interruption, the CLI line.

Dispatch counts are checked against the program's command buffer; a listener raising
KeyboardInterrupt stops a run with VMInterrupt and the context then runs the function
again to the same bytes as iree-run-module; ``iree-lab run`` draws progress only on a
terminal's stderr and never changes stdout.
"""

from __future__ import annotations

import io as _io

import pytest

from iree_lab import vm
from iree_lab.hal import Device, io
from iree_lab.hal.module import HALModule
from iree_lab.hal.progress import DispatchProgress, TerminalProgress
from iree_lab.vm.status import VMInterrupt

INPUTS = ["4x8xf32=1.5", "8x4xf32=" + " ".join(str(i) for i in range(32))]


def _context(build_module):
    path = build_module("tensor_vmvx")
    device = Device()
    return path, device, vm.Context([HALModule([device]), vm.BytecodeModule.load(path)])


def _run(ctx, device) -> str:
    fn = ctx.lookup_function("matmul")
    values = io.parse_inputs(device, fn.cconv.arguments, INPUTS)
    return "EXEC @matmul\n" + io.format_results(ctx.call_function(fn, values), fn.cconv.results)


def test_counts_dispatches_submitted_and_done(build_module):
    _path, device, ctx = _context(build_module)
    seen = []
    device.progress.add_listener(lambda p: seen.append((p.submitted, p.done, p.current)))
    _run(ctx, device)
    progress = device.progress
    assert progress.submitted > 0 and progress.done == progress.submitted
    assert progress.current is None and progress.elapsed > 0
    # Each dispatch is announced by name before it is counted done.
    starts = [s for s in seen if s[2] is not None]
    assert len(starts) == progress.done
    assert all(a[1] <= b[1] for a, b in zip(seen, seen[1:], strict=False))


def test_interrupt_from_a_listener_leaves_the_context_usable(build_module, iree_tool):
    path, device, ctx = _context(build_module)

    def interrupt(p: DispatchProgress):
        if p.current is not None:
            raise KeyboardInterrupt

    device.progress.add_listener(interrupt)
    with pytest.raises(VMInterrupt):
        _run(ctx, device)
    device.progress.remove_listener(interrupt)
    expected = iree_tool("iree-run-module", "--device=local-sync", f"--module={path}",
                         "--function=matmul", *[f"--input={i}" for i in INPUTS])
    assert _run(ctx, device) == expected.stdout.decode()


def test_terminal_progress_draws_and_clears_one_line():
    stream = _io.StringIO()
    listener = TerminalProgress(stream, delay=0.0, rate=1e9)
    progress = DispatchProgress()
    progress.add_listener(listener)
    progress.submit(2)
    progress.begin("main_dispatch_0")
    progress.finish()
    listener.close()
    text = stream.getvalue()
    assert "\r[iree-lab] dispatches 0/2" in text and "main_dispatch_0" in text
    assert "dispatches 1/2" in text and text.endswith("\r\x1b[K")


class _Tty(_io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("tty", [False, True])
def test_cli_stdout_is_unchanged_by_progress(build_module, iree_tool, capsys, monkeypatch, tty):
    from iree_lab.cli.main import main

    path = build_module("tensor_vmvx")
    args = [f"--module={path}", "--function=matmul", *[f"--input={i}" for i in INPUTS]]
    expected = iree_tool("iree-run-module", "--device=local-sync", *args).stdout.decode()
    stderr = _Tty() if tty else _io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    # Draw immediately (the default waits a second before showing anything).
    monkeypatch.setattr(TerminalProgress.__init__, "__defaults__", None, raising=False)
    monkeypatch.setattr(TerminalProgress.__init__, "__kwdefaults__",
                        {"delay": 0.0, "rate": 1e9})
    capsys.readouterr()
    assert main(["run", *args]) == 0
    assert capsys.readouterr().out == expected
    assert ("[iree-lab] dispatches" in stderr.getvalue()) == tty


def test_notebook_progress_bar_listens_to_the_device(build_module):
    from iree_lab.notebook.progress import ProgressBar

    _path, device, ctx = _context(build_module)
    bar = ProgressBar("run", show_after_s=0.0, interval_s=0.0)
    device.progress.add_listener(bar)
    _run(ctx, device)
    assert bar.total == device.progress.submitted > 0 and bar.done == bar.total
