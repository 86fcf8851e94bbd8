"""``iree-lab check``: run a module's check tests like ``iree-check-module``.

Each exported function (not ``__*`` or ``*$*``; no arguments, no results) of the last
``--module=`` is one test, run in a fresh context with the ``check`` module
(:mod:`iree_lab.hal.check`) and the HAL modules it needs. Output is gtest's console
format (``[ RUN      ]``, ``[       OK ]``, ``[  FAILED  ]``, totals); a failed check
prints where it was called (source location, function and instruction offset), both
operands and the first differing elements. Exit status 1 when a test failed
(``--expect_failure`` inverts it, as iree-check-module's flag does).
"""

from __future__ import annotations

import sys

from iree_lab.errors import IreeLabError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="run a module's check.expect_* tests (flags of iree-check-module)",
        description="Runs every exported function of a module as a test with the check "
        "module, printing gtest-style results like iree-check-module.",
    )
    p.add_argument("--module", action="append", default=[], metavar="FILE",
                   help="a .vmfb (or a .py file defining native modules); repeatable, "
                   "the tests are the exports of the last one")
    p.add_argument("--device", action="append", default=[],
                   help="HAL device: local-sync (default) or local-task")
    p.add_argument("--no_native", action="store_true",
                   help="refuse executables that run native code (llvm-cpu ELF)")
    p.add_argument("--parameters", action="append", default=[], metavar="[SCOPE=]FILE",
                   help="parameter file for the io_parameters module; repeatable")
    p.add_argument("--function", default=None,
                   help="run only this exported function")
    p.add_argument("--expect_failure", action="store_true",
                   help="succeed only if some test fails (iree-check-module's flag)")
    p.set_defaults(func=check)


def check(args) -> int:
    from iree_lab.hal.check import (
        check_functions,
        format_footer,
        format_header,
        format_test_end,
        format_test_start,
        run_checks,
    )
    from iree_lab.vm import VMError, load_module_path
    from iree_lab.vm.status import StatusCode, VMStatus

    if not args.module:
        _fail("INVALID_ARGUMENT; no user module specified; use --module=file.vmfb")
        return 1
    try:
        modules = []
        for path in args.module:
            modules.extend(load_module_path(path))
    except (VMStatus, VMError) as e:
        _fail(f"{e.status_text()}; loading modules")
        return 1
    except IreeLabError as e:
        _fail(f"{e}; loading modules")
        return 1
    except OSError as e:
        _fail(f"NOT_FOUND; failed to open file '{e.filename}'; loading modules")
        return 1

    out = sys.stdout

    try:
        functions = check_functions(modules[-1])
        if args.function is not None:
            functions = [fn for fn in functions if fn.name == args.function]
            if not functions:
                modules[-1].lookup_export(args.function)  # NOT_FOUND
                raise VMStatus(StatusCode.INVALID_ARGUMENT,
                               f"export '{args.function}' is not a test function")
        # The header goes out with the first test, after device and parameter errors.
        pending = [format_header(modules[-1].name, len(functions))]

        def observer(event, test):
            out.write("".join(pending) + (format_test_start(test) if event == "start"
                                          else format_test_end(test)))
            pending.clear()
            out.flush()

        report = run_checks(modules, device_uri=(args.device or ["local-sync"])[0],
                            function=args.function, observer=observer,
                            native=not args.no_native, parameters=args.parameters)
    except (VMStatus, VMError) as e:
        _fail(e.status_text())
        return 1
    except IreeLabError as e:  # a bad parameter file
        _fail(str(e))
        return 1
    out.write("".join(pending) + format_footer(report))
    code = report.exit_code
    if args.expect_failure:
        print("Test passed but expected failure" if code == 0 else "Test failed as expected")
        return 0 if code else 1
    if code:
        print("Test failed")
    return code


def _fail(text: str) -> None:
    sys.stdout.flush()
    print(f"iree-lab check: {text}", file=sys.stderr)
