"""``iree-lab run``: run a function like ``iree-run-module``, in iree_lab's VM.

Accepts iree-run-module's flags (``--module=`` repeatable, ``--function=``,
``--input=`` repeatable, ``--device=``) and prints the same stdout
(``EXEC @fn`` then ``result[i]: ...``) byte for byte. ``--module=x.py`` loads
native modules written in Python (see :mod:`iree_lab.vm.native`). Failures
exit with status 1 and IREE-style status text (``CODE; message; context``)
plus the VM backtrace on stderr.
"""

from __future__ import annotations

import sys

from iree_lab.errors import IreeLabError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a function of a module (flags of iree-run-module)",
        description="Runs a function in iree_lab's Python VM and prints its results "
        "exactly like iree-run-module.",
    )
    p.add_argument("--module", action="append", default=[], metavar="FILE",
                   help="a .vmfb (or a .py file defining native modules); repeatable, "
                   "registered in order; the function is looked up in the last one")
    p.add_argument("--function", default="", help="exported function to run")
    p.add_argument("--input", action="append", default=[], metavar="VALUE",
                   help="function argument in iree-run-module's syntax: 42, 2x2xf32=1 2 3 4, "
                   "@file.npy, (null)")
    p.add_argument("--device", action="append", default=[],
                   help="HAL device: local-sync (default) or local-task (workgroups on a "
                   "thread pool); VMVX executables run in the Python VM, llvm-cpu ones natively")
    p.add_argument("--no_native", action="store_true",
                   help="refuse executables that run native code (llvm-cpu embedded/system "
                   "ELF): only VMVX dispatches run")
    p.add_argument("--parameters", action="append", default=[], metavar="[SCOPE=]FILE",
                   help="parameter file (.irpa, .safetensors, .gguf) for the io_parameters "
                   "module, global or under a named scope; repeatable")
    p.add_argument("--parameter_mode", default="file", choices=("file", "preload"),
                   help="accepted for iree-run-module compatibility; files are always "
                   "memory-mapped and read on demand")
    p.add_argument("--check", action="store_true",
                   help="register the check module (iree_lab.hal.check): check.expect_* "
                   "calls run instead of being skipped; a failed check is printed to stderr "
                   "and makes the exit status 1")
    p.add_argument("--output_max_element_count", type=int, default=1024, metavar="N",
                   help="print up to N elements of each output tensor and elide the rest")
    from iree_lab.cli.debug import add_trace_flags

    add_trace_flags(p)  # --trace_execution (iree_lab.debug.trace)
    p.set_defaults(func=run)


def run(args) -> int:
    from iree_lab.hal.tooling import Session
    from iree_lab.vm import Context, VMError, load_module_path
    from iree_lab.vm.scheduler import Scheduler, is_coarse_fences
    from iree_lab.vm.status import StatusCode, VMStatus

    if not args.module:
        _fail("INVALID_ARGUMENT; no user module specified; use --module=file.vmfb to load "
              "from a file")
        return 1
    modules = []
    try:
        for path in args.module:
            modules.extend(load_module_path(path))
    except VMStatus as status:
        _fail(status.status_text() + "; loading modules and dependencies; creating run context")
        return 1
    except IreeLabError as e:
        _fail(f"{e}; loading modules and dependencies; creating run context")
        return 1
    except OSError as e:
        _fail(f"NOT_FOUND; failed to open file '{e.filename}'; loading modules and "
              "dependencies; creating run context")
        return 1
    for module in modules:
        source = getattr(module, "source", None)  # bytecode modules: the format module
        if source is None:
            continue
        try:
            source.check_bytecode_version()
        except IreeLabError as e:
            _fail(f"INVALID_ARGUMENT; {e}; loading modules and dependencies; creating run "
                  "context")
            return 1
        note = source.bytecode_version_note
        if note:  # stdout stays what that release's iree-run-module prints
            print(f"iree-lab run: note: module '{module.name}': {note}", file=sys.stderr)
    main_module = modules[-1]
    # Like iree-run-module, the HAL modules the program depends on are created first
    # (iree_tooling_load_modules_with_dependencies).
    from iree_lab.format.parameters import ParameterFormatError

    try:
        session = Session.for_modules(modules, device_uri=(args.device or ["local-sync"])[0],
                                      native=not args.no_native,
                                      parameters=args.parameters)
    except VMStatus as status:
        _fail(_text(status, ["creating device", "creating run context"]))
        return 1
    except ParameterFormatError as e:
        _fail(f"{e.status_text()}; loading modules and dependencies; creating run context")
        return 1
    check = None
    if args.check:
        from iree_lab.hal.check import CheckModule

        check = CheckModule(on_failure=lambda failure: _fail_check(failure.format()))
        session.modules.insert(0, check)
    try:
        from iree_lab.cli.debug import trace_hook

        context = Context(session.modules + modules,
                          hook=trace_hook(args, session.modules + modules))
    except VMError as e:
        _fail(_text(e, ["creating VM context", "creating run context"]))
        return 1

    try:
        function = _select_function(main_module, args.function)
    except VMStatus as status:
        extra = [f"looking up function '{args.function}'"] if args.function else []
        _fail(_text(status, extra + ["creating run context"]))
        return 1
    decl = function.attrs.get("iree.abi.declaration") if function.attrs else None
    decl_note = [f"`{decl}`"] if decl else []

    fragment = function.cconv.arguments if function.cconv else ""
    try:
        inputs = session.parse_inputs(fragment, args.input)
    except VMStatus as status:
        _fail(_text(status, ["parsing function inputs"] + decl_note))
        return 1

    # async-external (coarse-fences) functions get a null wait fence and a fresh signal
    # fence to wait on (iree_tooling_append_async_fences) and run as a fiber.
    signal = None
    if is_coarse_fences(function):
        signal = session.device.create_fence([(session.device.create_semaphore(0), 1)])
        inputs = list(inputs) + [None, signal]

    sys.stdout.write(f"EXEC @{function.name}\n")
    sys.stdout.flush()
    # Progress on a terminal only (stderr; stdout stays byte-identical to iree-run-module).
    progress = _terminal_progress(session.device)
    try:
        expected = _count_args(fragment)
        if len(inputs) != expected:
            raise VMError(StatusCode.INVALID_ARGUMENT,
                          f"input list and function mismatch; expected {expected} arguments "
                          f"but passed {len(inputs)}")
        if signal is None:
            results = context.call_function(function, inputs)
        else:
            scheduler = Scheduler(context)
            fiber = scheduler.spawn(function, *inputs)
            scheduler.run()  # a wait nothing can satisfy raises DeadlockError
            results = fiber.result()
    except VMError as e:
        if progress is not None:
            progress.close()
        _fail(_text(e, [f"invoking function '{function.name}'"] + decl_note))
        return 1
    if progress is not None:
        progress.close()
    if signal is not None and signal.query() != StatusCode.OK:
        failure = signal.failure() or VMStatus(
            StatusCode.DEADLINE_EXCEEDED, "the function returned without signaling its "
            "signal fence and nothing else can (iree-run-module would wait forever)")
        _fail(_text(failure, ["waiting on finish fence"]))
        return 1
    result_fragment = function.cconv.results if function.cconv else ""
    sys.stdout.write(session.format_results(results, result_fragment,
                                            args.output_max_element_count))
    sys.stdout.flush()
    context.close()
    return 1 if check is not None and check.failures else 0


def _terminal_progress(device):
    """A dispatch progress line on stderr when it is a terminal (else None)."""
    isatty = getattr(sys.stderr, "isatty", None)
    if isatty is None or not isatty():
        return None
    from iree_lab.hal.progress import TerminalProgress

    listener = TerminalProgress(sys.stderr)
    device.progress.add_listener(listener)
    return listener


def _select_function(module, name: str):
    from iree_lab.vm.status import StatusCode, VMStatus

    if name:
        return module.lookup_export(name)
    candidates = [fn for fn_name, fn in module.exports.items()
                  if not fn_name.startswith("__") and "$" not in fn_name]
    if not candidates:
        raise VMStatus(StatusCode.INVALID_ARGUMENT,
                       "no exported functions found in module; at least one must be present")
    if len(candidates) > 1:
        raise VMStatus(StatusCode.INVALID_ARGUMENT,
                       "more than one exported function present; --function= must be "
                       "specified explicitly")
    return candidates[0]


def _count_args(fragment: str) -> int:
    from iree_lab.vm.calls import argument_count

    return argument_count(fragment)


def _text(error, annotations: list[str]) -> str:
    text = "; ".join([error.status_text()] + annotations)
    frames = getattr(error, "backtrace", None)
    if frames is None and getattr(error, "frames", None):
        frames = list(reversed(error.frames))
    if frames:
        text += "\nVM backtrace (most recent call last):\n" + "\n".join(f"  {f}" for f in frames)
    return text


def _fail_check(text: str) -> None:
    sys.stdout.flush()
    print(text, file=sys.stderr)


def _fail(text: str) -> None:
    sys.stdout.flush()
    print(f"iree-lab run: {text}", file=sys.stderr)
