"""Check-style test suites: MLIR files whose functions call ``check.expect_*``.

Two sources of such files:

* a directory of ``.mlir`` files (this project's own, ``tests/programs/check``), compiled
  with one set of flags;
* IREE's e2e suites as IREE's CI runs them: the ``iree_check_single_backend_test_suite``
  blocks of ``tests/e2e/**/CMakeLists.txt`` for one target backend, read from a git
  checkout or bare git dir of iree-org/iree (``build_tools/cmake/iree_check_test.cmake``
  defines what a block means: one job per SRCS file, compiled with
  ``--iree-hal-target-backends=BACKEND`` + the block's COMPILER_FLAGS, run by
  ``iree-check-module --module=... RUNNER_ARGS`` on DRIVER; a block without DRIVER only
  compiles).

Sources fetched from IREE are written under the cache folder, never into the repository.
Compiled modules are cached like :mod:`iree_lab.testing.corpus` (source, its path, flags,
compiler version). Command line: ``python -m iree_lab.testing.check_suite --help``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from iree_lab.testing import corpus

# iree_bytecode_module's own flags (build_tools/cmake/iree_bytecode_module.cmake).
BYTECODE_MODULE_FLAGS = ("--output-format=vm-bytecode", "--mlir-print-op-on-diagnostic=false")

# IREE's e2e folders whose vmvx check suites this project runs (issue 15).
E2E_DIRS = ("tosa_ops", "stablehlo_ops", "linalg", "linalg_ext_ops", "tensor_ops", "regression")


@dataclasses.dataclass(frozen=True)
class CheckJob:
    """One file x flags job: compile ``source`` with ``flags``, then run its checks."""

    name: str
    source: Path
    flags: tuple[str, ...]
    # None: compile only (IREE's block has no DRIVER).
    driver: str | None = "local-task"
    runner_args: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    # The tests must fail (CMake's WILL_FAIL; negative controls): run with
    # --expect_failure, so the job passes when some check fails.
    will_fail: bool = False


@dataclasses.dataclass
class CompileResult:
    job: CheckJob
    module: Path | None
    # Seconds iree-compile took (for a cached module: when it was compiled).
    seconds: float
    cached: bool
    error: str = ""


def _cmake_tokens(text: str) -> list[str]:
    text = re.sub(r"#[^\n]*", "", text)  # comments (quoted '#' does not occur in these blocks)
    return [_unescape(m.group(1)) if m.group(1) is not None else m.group(2)
            for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|([^\s()"]+)', text)]


def _unescape(arg: str) -> str:
    """A quoted CMake argument as the compiler sees it: CMake drops one level of
    backslashes and the build's shell another before parentheses (pass pipelines)."""
    arg = re.sub(r"\\(.)", r"\1", arg)
    return re.sub(r"\\([()])", r"\1", arg)


_SUITE_KEYWORDS = {"NAME", "TARGET_BACKEND", "DRIVER", "INPUT_TYPE", "WILL_FAIL", "SRCS",
                   "COMPILER_FLAGS", "RUNNER_ARGS", "LABELS", "DEPENDS", "TIMEOUT"}


def parse_cmake_suites(text: str) -> list[dict[str, list[str]]]:
    """The arguments of each ``iree_check_single_backend_test_suite(...)`` call."""
    suites = []
    for match in re.finditer(r"^\s*iree_check_single_backend_test_suite\((.*?)^\)", text,
                             re.S | re.M):
        args: dict[str, list[str]] = {}
        key = None
        for token in _cmake_tokens(match.group(1)):
            if token in _SUITE_KEYWORDS:
                key = token
                args.setdefault(key, [])
            elif key is not None:
                args[key].append(token)
        suites.append(args)
    return suites


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(git_dir), *args], check=True,
                          capture_output=True).stdout


def fetch_e2e_jobs(git_dir: Path, backend: str = "vmvx", dirs=E2E_DIRS,
                   dest: Path | None = None, rev: str = "HEAD") -> list[CheckJob]:
    """IREE's e2e check jobs for ``backend``, sources written under ``dest``.

    ``git_dir`` is a clone or bare git dir of iree-org/iree. ``dest`` defaults to
    ``<cache>/iree_e2e/<commit>``.
    """
    git_dir = Path(git_dir)
    commit = _git(git_dir, "rev-parse", rev).decode().strip()
    dest = Path(dest) if dest else corpus.cache_dir().parent / "iree_e2e" / commit[:12]
    listing = _git(git_dir, "ls-tree", "-r", "--name-only", commit, "tests/e2e").decode()
    cmake_files = [p for p in listing.splitlines()
                   if p.endswith("/CMakeLists.txt") and p.split("/")[2] in dirs]
    jobs = []
    for cmake in sorted(cmake_files):
        folder = cmake.rsplit("/", 1)[0]
        for suite in parse_cmake_suites(_git(git_dir, "show", f"{commit}:{cmake}").decode()):
            if suite.get("TARGET_BACKEND") != [backend]:
                continue
            flags = [f"--iree-hal-target-backends={backend}"]
            if suite.get("INPUT_TYPE"):
                flags.append(f"--iree-input-type={suite['INPUT_TYPE'][0]}")
            flags += suite.get("COMPILER_FLAGS", [])
            driver = (suite.get("DRIVER") or [None])[0]
            for src in suite.get("SRCS", []):
                path = dest / folder / src
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(_git(git_dir, "show", f"{commit}:{folder}/{src}"))
                jobs.append(CheckJob(
                    name=f"{folder.removeprefix('tests/e2e/')}/{suite['NAME'][0]}_{src}",
                    source=path, flags=tuple(flags), driver=driver,
                    runner_args=tuple(suite.get("RUNNER_ARGS", [])),
                    labels=tuple(suite.get("LABELS", [])),
                    will_fail=suite.get("WILL_FAIL", ["OFF"])[0].upper() in
                    ("ON", "TRUE", "1", "YES")))
    return jobs


def directory_jobs(directory: Path, flags, pattern: str = "*.mlir",
                   will_fail: str | None = None) -> list[CheckJob]:
    """One job per ``pattern`` file of ``directory`` (sorted), all with ``flags``;
    files matching the glob ``will_fail`` are negative controls."""
    return [CheckJob(name=p.name, source=p, flags=tuple(flags),
                     will_fail=bool(will_fail) and p.match(will_fail))
            for p in sorted(Path(directory).glob(pattern))]


def module_path(job: CheckJob) -> Path:
    key = hashlib.sha256()
    # The source path is part of the key: debug locations embed it.
    for part in (job.source.read_bytes(), str(job.source).encode(),
                 "\0".join(BYTECODE_MODULE_FLAGS + job.flags).encode(),
                 corpus.tool_version("iree-compile").encode()):
        key.update(part)
        key.update(b"\x00")
    stem = re.sub(r"[^\w.-]", "_", job.name).removesuffix(".mlir")
    return corpus.cache_dir() / "check" / f"{stem}-{key.hexdigest()[:16]}.vmfb"


def compile_job(job: CheckJob) -> CompileResult:
    """Compiles ``job`` into the cache (serially: one iree-compile at a time)."""
    out = module_path(job)
    failed = out.with_suffix(".failed")
    timing = out.with_suffix(".seconds")
    recorded = float(timing.read_text()) if timing.exists() else 0.0
    if out.exists():
        return CompileResult(job, out, recorded, True)
    if failed.exists():  # a compile failure is cached too (same key), with its message
        return CompileResult(job, None, recorded, True, failed.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    cmd = [corpus.tool_path("iree-compile"), *BYTECODE_MODULE_FLAGS, *job.flags,
           str(job.source), "-o", str(tmp_path)]
    start = time.perf_counter()
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        timing.write_text(f"{seconds:.3f}")
        if result.returncode != 0:
            error = result.stderr.strip() or f"iree-compile exited {result.returncode}"
            failed.write_text(error)
            return CompileResult(job, None, seconds, False, error)
        os.replace(tmp_path, out)
    finally:
        tmp_path.unlink(missing_ok=True)
    return CompileResult(job, out, seconds, False)


# -- Running jobs ---------------------------------------------------------------------------


@dataclasses.dataclass
class JobResult:
    job: CheckJob
    # "pass", "fail" (a test failed or errored), "timeout", "compile-error" (the pinned
    # iree-compile rejects the source), "compiled" (a compile-only job).
    outcome: str
    compile: CompileResult
    run_seconds: float = 0.0
    output: str = ""
    tests_passed: int = 0
    tests_failed: int = 0
    # Time inside the tests (gtest's "(N ms total)"), i.e. without Python start-up.
    test_seconds: float = 0.0

    @property
    def cause(self) -> str:
        """One line saying why a job did not pass."""
        if self.outcome == "compile-error":
            first = next((ln for ln in self.compile.error.splitlines() if "error:" in ln),
                         self.compile.error.splitlines()[0] if self.compile.error else "")
            return first.split("error:", 1)[-1].strip()
        if self.outcome == "timeout":
            return "timed out"
        lines = self.output.splitlines()
        for k, line in enumerate(lines):
            if line.startswith("  Actual: ") or "iree-lab check:" in line:
                return line.strip()
            if line.endswith(": Failure") and k + 1 < len(lines) and \
                    lines[k + 1] != "Value of: status":  # an error: its Actual line follows
                return f"{line} {lines[k + 1].strip()}"
        return ""


def run_job(job: CheckJob, *, timeout: float = 600.0, python: str | None = None) -> JobResult:
    """Compiles (cached) and runs one job with ``iree-lab check`` in a subprocess."""
    import sys

    compiled = compile_job(job)
    if compiled.module is None:
        return JobResult(job, "compile-error", compiled)
    if job.driver is None:
        return JobResult(job, "compiled", compiled)
    cmd = [python or sys.executable, "-m", "iree_lab", "check", f"--module={compiled.module}",
           f"--device={job.driver}", *job.runner_args,
           *(["--expect_failure"] if job.will_fail else [])]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(corpus.REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return JobResult(job, "timeout", compiled, time.perf_counter() - start, out)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    passed = sum(ln.startswith("[       OK ]") for ln in proc.stdout.splitlines())
    failed = sum(ln.startswith("[  FAILED  ]") and "(" in ln and ln.endswith("ms)")
                 for ln in proc.stdout.splitlines())
    outcome = "pass" if proc.returncode == 0 else "fail"
    total = re.search(r"^\[==========\] .* ran\. \((\d+) ms total\)$", proc.stdout, re.M)
    return JobResult(job, outcome, compiled, seconds, output, passed, failed,
                     int(total.group(1)) / 1000 if total else 0.0)


def summarize(results: list[JobResult]) -> str:
    """Counts, compile vs total time, and every job that did not pass with its cause."""
    by: dict[str, list[JobResult]] = {}
    for r in results:
        by.setdefault(r.outcome, []).append(r)
    compile_s = sum(r.compile.seconds for r in results)
    run_s = sum(r.run_seconds for r in results)
    test_s = sum(r.test_seconds for r in results)
    ran = [r for r in results if r.outcome in ("pass", "fail", "timeout")]
    lines = [f"{len(results)} jobs: " + ", ".join(
        f"{len(by.get(k, []))} {k}" for k in ("pass", "fail", "timeout", "compile-error",
                                              "compiled")),
             f"tests (exported functions): {sum(r.tests_passed for r in ran)} passed, "
             f"{sum(r.tests_failed for r in ran)} failed",
             f"time: iree-compile {compile_s:.1f} s, iree-lab check {run_s:.1f} s "
             f"(ratio {run_s / compile_s if compile_s else 0:.2f}; {test_s:.1f} s inside the "
             "tests, the rest is process start-up and module loading)"]
    for kind in ("fail", "timeout", "compile-error"):
        for r in by.get(kind, []):
            lines.append(f"  {kind}: {r.job.name}: {r.cause}")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m iree_lab.testing.check_suite",
        description="Compile (cached) and run check-style MLIR tests with iree-lab check.")
    sub = parser.add_subparsers(dest="kind", required=True)
    e2e = sub.add_parser("iree-e2e", help="IREE's tests/e2e check suites for one backend")
    e2e.add_argument("--iree-git", required=True,
                     help="a clone or bare git dir of iree-org/iree (sources are read "
                     "from it and written under the cache, never into this repository)")
    e2e.add_argument("--rev", default="HEAD")
    e2e.add_argument("--backend", default="vmvx")
    e2e.add_argument("--dirs", default=",".join(E2E_DIRS))
    d = sub.add_parser("dir", help="every .mlir file of a directory")
    d.add_argument("directory")
    d.add_argument("--flag", action="append", default=[],
                   help="iree-compile flag (repeatable); default: local vmvx")
    d.add_argument("--will-fail", default=None, metavar="GLOB",
                   help="files whose tests must fail (negative controls), e.g. '*fail*'")
    for p in (e2e, d):
        p.add_argument("-k", "--filter", default="", help="only jobs whose name contains this")
        p.add_argument("--timeout", type=float, default=600.0, help="seconds per job")
        p.add_argument("-v", "--verbose", action="store_true",
                       help="print the output of failed jobs")
    args = parser.parse_args(argv)
    if args.kind == "iree-e2e":
        jobs = fetch_e2e_jobs(Path(args.iree_git), args.backend,
                              tuple(args.dirs.split(",")), rev=args.rev)
    else:
        flags = args.flag or ["--iree-hal-target-device=local",
                              "--iree-hal-local-target-device-backends=vmvx"]
        jobs = directory_jobs(Path(args.directory), flags, will_fail=args.will_fail)
    jobs = [j for j in jobs if args.filter in j.name]
    results = []
    for job in jobs:
        result = run_job(job, timeout=args.timeout)
        results.append(result)
        print(f"{result.outcome:13s} {job.name} (compile {result.compile.seconds:.1f} s, "
              f"run {result.run_seconds:.1f} s)", flush=True)
        if args.verbose and result.outcome in ("fail", "timeout"):
            print(result.output, file=sys.stderr)
    print(summarize(results))
    return 0 if all(r.outcome in ("pass", "compiled", "compile-error") for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
