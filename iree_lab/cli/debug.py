"""``iree-lab debug``: a small pdb-like prompt over :class:`iree_lab.debug.Debugger`.

Takes ``iree-run-module``'s flags (``--module=`` repeatable, ``--function=``,
``--input=`` repeatable, ``--device=``), stops at the function's first
instruction and reads commands from stdin (scriptable: ``iree-lab debug ... <
commands.txt``). ``help`` lists the commands.
"""

from __future__ import annotations

import cmd
import sys

BREAK_HELP = """break SPEC [if CONDITION]    set a breakpoint; SPEC is one of
    FUNCTION+OFFSET            e.g. loop_sum+4F (hex offset), module.loop_sum+0x4F
    FUNCTION ^bbN              first instruction of block N
    FILE:LINE                  where execution enters a source line (debug database)
    op:OPCODE                  every vm.add.i32 (patterns: vm.call*)
    import:NAME                every call of an import (hal.command_buffer.dispatch)
    dispatch[:NAME][@X,Y,Z]    first instruction of VMVX dispatch functions; before a
                               dispatch of native (llvm-cpu) code
  CONDITION is Python over i3, r0, i64(2), f32(4), g.i32(OFFSET), pc, position, workgroup"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "debug",
        help="single-step a function in iree_lab's VM (a pdb-like prompt)",
        description="Runs a function under the iree_lab debugger and reads commands "
        "(step/next/finish/continue/back/break/print/stack/regs/list/quit) from stdin.",
    )
    p.add_argument("--module", action="append", default=[], metavar="FILE",
                   help="a .vmfb (or a .py file defining native modules); repeatable")
    p.add_argument("--function", default="", help="exported function to debug")
    p.add_argument("--input", action="append", default=[], metavar="VALUE",
                   help="function argument, as iree-run-module takes it")
    p.add_argument("--device", default="local-sync", help="local-sync or local-task")
    p.add_argument("--parameters", action="append", default=[], metavar="[SCOPE=]FILE",
                   help="parameter file (.irpa, .safetensors, .gguf); repeatable")
    p.add_argument("--break", dest="breaks", action="append", default=[], metavar="SPEC",
                   help="a breakpoint to set before starting (see `help break`)")
    p.add_argument("--no_dispatches", action="store_true",
                   help="run dispatches without stepping into them")
    p.add_argument("--no_native", action="store_true",
                   help="refuse executables that run native code (llvm-cpu)")
    p.add_argument("--init", action="store_true",
                   help="start in the modules' __init functions (executables and command "
                   "buffers are created there), before the function is called")
    p.add_argument("--replay_imports", action="append", default=[], metavar="PATTERN",
                   help="record and replay results of these (nondeterministic) imports")
    p.set_defaults(func=run)


def run(args) -> int:
    from iree_lab.debug import DebugError, Debugger, Program
    from iree_lab.vm.status import VMError

    if not args.module:
        print("iree-lab debug: no module given; use --module=file.vmfb", file=sys.stderr)
        return 1
    if not args.function:
        print("iree-lab debug: --function= is required", file=sys.stderr)
        return 1
    from iree_lab.format.parameters import ParameterFormatError

    _note_bytecode_versions(args.module)
    try:
        program = Program(args.module, args.function, args.input, device=args.device,
                          replay_imports=args.replay_imports, parameters=args.parameters,
                          native=not args.no_native)
    except ParameterFormatError as e:
        print(f"iree-lab debug: {e.status_text()}", file=sys.stderr)
        return 1
    dbg = Debugger(program, dispatches=not args.no_dispatches, init=args.init)
    try:
        stop = dbg.start()
    except (VMError, DebugError) as e:
        print(f"iree-lab debug: {e}", file=sys.stderr)
        return 1
    shell = DebugShell(dbg)
    try:
        for spec in args.breaks:
            shell.onecmd(f"break {spec}")
        shell.show(stop)
        shell.cmdloop()
    finally:
        dbg.close()
    return 0


def _note_bytecode_versions(paths) -> None:
    """Names an older (or unknown) bytecode version on stderr, as `iree-lab run` does."""
    from iree_lab.errors import IreeLabError
    from iree_lab.format import open_module

    for path in paths:
        if str(path).endswith(".py"):
            continue
        try:
            note = open_module(path).bytecode_version_note
        except (IreeLabError, OSError):
            continue  # loading the program reports it
        if note:
            print(f"iree-lab debug: note: {path}: {note}", file=sys.stderr)


def _parse_int(text: str, base: int = 0) -> int:
    text = text.strip()
    try:
        return int(text, base)
    except ValueError:
        return int(text, 16)


def parse_break(dbg, text: str):
    """Creates the breakpoint ``text`` describes (see BREAK_HELP)."""
    from iree_lab.debug import DebugError

    spec, _, condition = text.partition(" if ")
    spec = spec.strip()
    condition = condition.strip() or None
    if not spec:
        raise DebugError("break needs a location (see `help break`)")
    if spec.startswith("op:"):
        return dbg.break_opcode(spec[3:], condition=condition)
    if spec.startswith("import:"):
        return dbg.break_import(spec[7:], condition=condition)
    if spec == "dispatch" or spec.startswith("dispatch:") or spec.startswith("dispatch@"):
        rest = spec[len("dispatch"):].lstrip(":")
        name, _, wg = rest.partition("@")
        workgroup = tuple(int(v) for v in wg.split(",")) if wg else None
        if workgroup is not None and len(workgroup) != 3:
            raise DebugError("a workgroup is X,Y,Z")
        return dbg.break_dispatch(name or "*", workgroup=workgroup, condition=condition)
    if "^bb" in spec:
        function, _, block = spec.partition("^bb")
        return dbg.break_at(function.strip().rstrip(":"), block=int(block), condition=condition)
    if "+" in spec:
        function, _, offset = spec.rpartition("+")
        try:
            pc = int(offset, 16) if not offset.lower().startswith("0x") else int(offset, 0)
        except ValueError:
            raise DebugError(f"not an offset: {offset!r}") from None
        return dbg.break_at(function, pc, condition=condition)
    file, colon, line = spec.rpartition(":")
    if colon and line.isdigit():
        return dbg.break_source(file, int(line), condition=condition)
    raise DebugError(f"cannot parse breakpoint {spec!r} (see `help break`)")


class DebugShell(cmd.Cmd):
    """The prompt. Every command prints to ``stdout``; errors never end the session."""

    prompt = "(iree-lab) "
    intro = None

    def __init__(self, dbg, stdin=None, stdout=None):
        super().__init__(stdin=stdin, stdout=stdout)
        self.dbg = dbg
        self.level = -1
        if stdin is not None or not sys.stdin.isatty():
            self.use_rawinput = False
            self.prompt = ""

    # -- plumbing ---------------------------------------------------------------------------

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def onecmd(self, line: str) -> bool:
        from iree_lab.debug import DebugError
        from iree_lab.vm.status import VMError

        try:
            return super().onecmd(line)
        except (DebugError, VMError) as e:
            self.out(f"*** {e}")
            return False

    def emptyline(self) -> bool:
        return False

    def default(self, line: str) -> None:
        self.out(f"*** unknown command: {line.split()[0]} (try `help`)")

    def do_EOF(self, arg) -> bool:
        return True

    def show(self, stop) -> None:
        self.level = -1
        self.out(str(stop))
        frame = stop.frame
        if frame is not None and frame.kind == "bytecode":
            loc = frame.location()
            if loc is not None:
                line = loc.source_line()
                self.out(f"  at {loc.short}" + (f": {line.strip()}" if line else ""))
        for change in stop.changes[:12]:
            self.out(f"  {change}")
        if len(stop.changes) > 12:
            self.out(f"  ... {len(stop.changes) - 12} more changes")
        if stop.finished and stop.reason == "failed" and stop.status is not None:
            for f in reversed(getattr(stop.status, "frames", []) or []):
                self.out(f"    {f}")

    def _count(self, arg: str) -> int:
        return _parse_int(arg) if arg.strip() else 1

    # -- motion -----------------------------------------------------------------------------

    def do_step(self, arg):
        """step [N]: step into (the next instruction, also inside calls and dispatches)"""
        self.show(self.dbg.step(self._count(arg)))

    do_s = do_step

    def do_next(self, arg):
        """next [N]: step over calls"""
        self.show(self.dbg.next(self._count(arg)))

    do_n = do_next

    def do_finish(self, arg):
        """finish: run until the current function returns"""
        self.show(self.dbg.finish())

    do_fin = do_finish

    def do_continue(self, arg):
        """continue: run to the next breakpoint, watchpoint or the end"""
        self.show(self.dbg.cont())

    do_c = do_cont = do_continue

    def do_back(self, arg):
        """back [N]: step back N instructions (time travel)"""
        self.show(self.dbg.back(self._count(arg)))

    do_bk = do_back

    def do_rc(self, arg):
        """rc: reverse-continue to the previous breakpoint or watchpoint hit"""
        self.show(self.dbg.reverse_continue())

    def do_goto(self, arg):
        """goto POSITION: travel to an instruction position (backwards or forwards)"""
        self.show(self.dbg.goto(_parse_int(arg, 10)))

    def do_until(self, arg):
        """until OFFSET [FUNCTION]: run to an offset (hex) of this or another function"""
        parts = arg.split()
        if not parts:
            self.out("*** until needs an offset")
            return
        pc = int(parts[0], 16) if not parts[0].lower().startswith("0x") else int(parts[0], 0)
        self.show(self.dbg.run_to(pc, parts[1] if len(parts) > 1 else None))

    def do_restart(self, arg):
        """restart: back to the first instruction"""
        self.show(self.dbg.restart())

    # -- breakpoints ------------------------------------------------------------------------

    def do_break(self, arg):
        if not arg.strip():
            self.do_info("break")
            return
        bp = parse_break(self.dbg, arg)
        self.out(f"Breakpoint {bp.describe()}")

    do_b = do_break

    def help_break(self):
        self.out(BREAK_HELP)

    def do_watch(self, arg):
        """watch REGISTER [FUNCTION] | watch global TYPE@OFFSET [MODULE] | watch global ref N"""
        parts = arg.split()
        if not parts:
            self.out("*** watch what?")
            return
        if parts[0] == "global":
            if len(parts) >= 3 and parts[1] == "ref":
                wp = self.dbg.watch_global(int(parts[2], 0), "ref",
                                           parts[3] if len(parts) > 3 else None)
            else:
                kind, _, offset = parts[1].partition("@")
                wp = self.dbg.watch_global(int(offset, 0), kind or "i32",
                                           parts[2] if len(parts) > 2 else None)
        else:
            function = parts[1] if len(parts) > 1 else None
            if function is None:
                top = self.dbg.frame()
                function = f"{top.module}.{top.function}"
            wp = self.dbg.watch_register(function, parts[0])
        self.out(f"Watchpoint {wp.describe()}")

    def do_delete(self, arg):
        """delete N: remove a breakpoint or watchpoint"""
        self.dbg.delete(_parse_int(arg, 10))

    def do_disable(self, arg):
        """disable N"""
        self.dbg.disable(_parse_int(arg, 10))

    def do_enable(self, arg):
        """enable N"""
        self.dbg.enable(_parse_int(arg, 10))

    def do_info(self, arg):
        """info break: list breakpoints and watchpoints"""
        items = [bp.describe() for bp in self.dbg.breakpoints]
        items += [wp.describe() for wp in self.dbg.watchpoints]
        if not items:
            self.out("No breakpoints or watchpoints.")
        for item in items:
            self.out(item)

    # -- state ------------------------------------------------------------------------------

    def do_print(self, arg):
        """print EXPR: evaluate over registers (i3, r0, i64(2), f32(4)), globals (g.i32(0))"""
        value = self.dbg.evaluate(arg, self.level)
        if hasattr(value, "ref_type") or value is None:
            from iree_lab.debug.values import ref_info

            self.out(str(ref_info(0, value)).replace("%r0 ", ""))
        else:
            self.out(repr(value))

    do_p = do_print

    def do_stack(self, arg):
        """stack: the call stack, outermost first (dispatches appear inside their import)"""
        frames = self.dbg.frames
        if not frames:
            self.out("(no frames)")
        for frame in frames:
            mark = ">" if frame.level == (self.level % len(frames)) else " "
            self.out(f"{mark} {frame}")

    do_bt = do_where = do_stack

    def do_frame(self, arg):
        """frame N: select frame N for regs/print/list (stack numbering)"""
        level = _parse_int(arg, 10)
        self.dbg.frame(level)
        self.level = level
        self.out(str(self.dbg.frame(level)))

    def do_regs(self, arg):
        """regs [all]: registers of the selected frame (raw word, i32, f32, i64/f64 pairs)"""
        show_all = arg.strip() == "all"
        frame = self.dbg.frame(self.level)
        self.out(f"{frame.name}")
        for r in frame.registers():
            if not show_all and r.word == 0:
                continue
            line = f"  %i{r.slot:<3d} 0x{r.word:08X}  i32={r.i32}  f32={r.f32:.9g}"
            if r.i64 is not None:
                line += f"  i64={r.i64}  f64={r.f64:.17g}"
            self.out(line)
        for ref in frame.refs():
            if show_all or ref.type is not None:
                self.out(f"  {ref.name:<5s} {ref}")

    do_registers = do_regs

    def do_dispatch(self, arg):
        """dispatch: the native dispatch stopped at (grid, constants, bindings' first bytes)"""
        stop = self.dbg.stop
        native = stop.dispatch if stop is not None else None
        if native is None:
            self.out("(not stopped at a native dispatch)")
            return
        x, y, z = native.workgroup_count
        sx, sy, sz = native.workgroup_size
        self.out(f"{native.export_name} in {native.executable_format} "
                 f"({'before' if stop.phase == 'dispatch' else 'after'} it runs)")
        self.out(f"  workgroups {x}x{y}x{z} of {sx}x{sy}x{sz}; constants "
                 f"[{' '.join(f'0x{c:X}' for c in native.constants)}]")
        for i, data in enumerate(native.bindings):
            head = data[:32].hex(" ")
            self.out(f"  binding {i}: {len(data)} bytes  {head}{' ...' if len(data) > 32 else ''}")

    def do_list(self, arg):
        """list: source lines around the current location, else the disassembly"""
        lines = self.dbg.source(level=self.level)
        if not lines:
            lines = self.dbg.disassemble(level=self.level)
        for line in lines:
            self.out(line)

    do_l = do_list

    def do_quit(self, arg) -> bool:
        """quit: end the session"""
        return True

    do_q = do_exit = do_quit


# -- `iree-lab run --trace_execution` -------------------------------------------------------


def add_trace_flags(parser) -> None:
    """``--trace_execution`` (IREE's flag: one line per instruction to stderr) and
    ``--trace_execution_jsonl=FILE`` (records with typed values) for ``iree-lab run``."""
    import argparse

    parser.add_argument("--trace_execution", dest="trace_execution", action="store_true",
                        help="trace every VM instruction to stderr, like IREE's debug builds")
    for value, action in (("true", "store_true"), ("1", "store_true"),
                          ("false", "store_false"), ("0", "store_false")):
        parser.add_argument(f"--trace_execution={value}", dest="trace_execution",
                            action=action, help=argparse.SUPPRESS)
    parser.add_argument("--trace_execution_jsonl", default=None, metavar="FILE",
                        help="write one JSON record per instruction (typed operand and "
                        "result values) to FILE")


def trace_hook(args, modules=()):
    """The VM hook ``iree-lab run`` installs for the trace flags (None without them).

    ``modules`` (all modules of the context) let the trace show a yieldable
    import's call once more per resume, as IREE's re-execution does."""
    import atexit

    from iree_lab.debug.trace import Tracer

    tracers = []
    if getattr(args, "trace_execution", False):
        tracers.append(Tracer(sys.stderr))
    path = getattr(args, "trace_execution_jsonl", None)
    if path:
        out = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed at exit
        tracer = Tracer(out, jsonl=True)
        atexit.register(lambda: (tracer.close(), out.close()))
        tracers.append(tracer)
    if not tracers:
        return None
    for tracer in tracers:
        tracer.attach_resumes(modules)
    if len(tracers) == 1:
        return tracers[0].hook
    hooks = [t.hook for t in tracers]

    def both(inv, frame, k):
        for hook in hooks:
            hook(inv, frame, k)
        return False

    return both
