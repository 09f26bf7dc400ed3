"""Run the parser fuzz targets under atheris (libFuzzer for Python), each for a bounded time.

    python fuzz/run.py all --seconds 20          # every target, 20 s each, one per core at a time (CI)
    python fuzz/run.py stix --seconds 600        # one target, longer
    python fuzz/run.py stix -- -runs=100000      # extra libFuzzer flags after --

Each target runs in its own process with the conformance corpus as seeds; a crash leaves
``crash-<hash>`` in fuzz/findings/ and the run exits non-zero. atheris is in the ``fuzz``
extra (``pip install -e '.[fuzz]'``); the same contract is checked under hypothesis by the
test suite (tests/*/test_*_properties.py), which needs no fuzzer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _fuzz_one(name: str, seconds: int, extra: list[str]) -> None:
    import atheris

    # The targets import their parsers lazily: import them here, inside the instrumentation, or
    # libFuzzer gets no coverage and fuzzes blind ("no interesting inputs").
    with atheris.instrument_imports(include=["cyberfusion"]):
        import cyberfusion.ai.documents
        import cyberfusion.ai.extract
        import cyberfusion.fusion.hits
        import cyberfusion.ingest.misp
        import cyberfusion.ingest.observables
        import cyberfusion.ingest.stix
        import cyberfusion.ingest.tabular
        import cyberfusion.ingest.text
        import cyberfusion.kit.observables
        import cyberfusion.taxii.service  # noqa: F401
        from fuzz.targets import TARGETS, seeds
    target = TARGETS[name]
    corpus = Path(tempfile.mkdtemp(prefix=f"cfc-fuzz-{name}-"))
    for i, seed in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(seed)
    findings = HERE / "findings"
    findings.mkdir(exist_ok=True)
    argv = [sys.argv[0], str(corpus), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
            f"-artifact_prefix={findings}/{name}-", "-print_final_stats=1", *extra]
    atheris.Setup(argv, target)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="a target name or 'all'")
    parser.add_argument("--seconds", type=int, default=20, help="time per target")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="targets at a time with 'all'")
    argv = sys.argv[1:]
    # libFuzzer flags follow "--"; split them off first (argparse takes no positionals after options).
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.extra = extra
    from fuzz.targets import TARGETS
    if args.target != "all":
        if args.target not in TARGETS:
            parser.error(f"unknown target {args.target!r}; one of: {', '.join(TARGETS)}, all")
        _fuzz_one(args.target, args.seconds, args.extra)
        return 0
    extra = ["--", *args.extra] if args.extra else []

    def fuzz(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, __file__, name, "--seconds", str(args.seconds), *extra],
                              check=False, capture_output=True, text=True)

    # One target per core at a time (each is one single-threaded process); outputs are printed
    # whole, in target order, as each finishes.
    failed = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, done in zip(TARGETS, pool.map(fuzz, TARGETS)):
            print(f"== fuzzed {name} for {args.seconds} s (exit {done.returncode})", flush=True)
            print(done.stdout + done.stderr, end="", flush=True)
            if done.returncode != 0:
                failed.append(name)
    print("fuzz: " + (f"findings in {', '.join(failed)} (see fuzz/findings/)" if failed else "no findings"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
