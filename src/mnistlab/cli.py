"""Command line: flags only. Every user error ends as one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from mnistlab import process
from mnistlab.config import STUDIES
from mnistlab.errors import ArgumentParser, UserError

EXIT_USER = 2
EXIT_INTERRUPTED = 130


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="full", help="quick | full (default) | paper | smoke")
    p.add_argument("--out", help="run folder (default runs/<profile>-s<seed>); re-running resumes it")
    p.add_argument("--device", default=None, help="auto (default) | cpu | cuda")
    p.add_argument("--seed", type=int, default=None, help="base seed (default 0)")
    p.add_argument("--data-dir", default=None, help="folder holding mnist/ and fashion-mnist/ (or MNISTLAB_DATA)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set mlp.epochs=5, a list comma-separated: --set "
                        "mtl.lambdas=0,0.5,1 (repeatable; --list-settings lists the keys)")
    p.add_argument("--list-settings", action="store_true",
                   help="print every --set key with its type, value in --profile, bounds and doc, then exit")


SETTINGS_EPILOG = ("Settings: `mnistlab run --list-settings [--profile P]` lists every config key that --set "
                   "accepts, with its type, its value in that profile, its bounds and its doc.")


def _add_group_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group", type=int, default=None, help="group number: fills the bundle name, notebook and report")
    p.add_argument("--member", action="append", default=[], metavar="'NAME | ID | CONTRIBUTION'",
                   help="a group member for the title and the contribution table (repeatable)")


def parser() -> argparse.ArgumentParser:
    top = ArgumentParser(prog="mnistlab", description="The MNIST / Fashion-MNIST deep-learning study, end to end.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    run = sub.add_parser("run", help="run studies (default: all six), then notebook, report and bundle",
                         epilog=SETTINGS_EPILOG)
    run.add_argument("studies", nargs="*", metavar="STUDY", help=f"any of: {', '.join(STUDIES)} (default: all)")
    _add_run_flags(run)
    run.add_argument("--no-deliverables", action="store_true", help="skip notebook, report and bundle")
    run.add_argument("--name", default=None, help="bundle name (<name>.zip; default Assignment2_Group_<group>)")
    _add_group_flags(run)

    data = sub.add_parser("data", help="dataset tools")
    dsub = data.add_subparsers(dest="data_command", required=True, parser_class=ArgumentParser)
    verify = dsub.add_parser("verify", help="check all eight IDX files (SHA-256 of the payload, header, shape)")
    verify.add_argument("--data-dir", default=None)

    for name, text in (("report", "build DIR/report.pdf"), ("notebook", "execute the notebook into DIR")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--run", required=True, help="a run folder")
        _add_group_flags(p)
    bundle = sub.add_parser("bundle", help="write <name>.zip: notebook, report PDF, code folder")
    bundle.add_argument("--run", required=True)
    bundle.add_argument("--name", default=None, help="default Assignment2_Group_<group>")
    _add_group_flags(bundle)

    bench = sub.add_parser("bench", help="throughput benchmarks against the peers")
    bench.add_argument("args", nargs=argparse.REMAINDER)
    tune = sub.add_parser("tune", help="Optuna tuning of Adam for the multi-task net", epilog=SETTINGS_EPILOG)
    _add_run_flags(tune)
    tune.add_argument("--storage", default="", help="Optuna storage URL (default: SQLite in the run folder)")
    tune.add_argument("--trials", type=int, default=None)
    return top


def _cmd_run(a: argparse.Namespace) -> int:
    from mnistlab import pipeline

    return _list_settings(a) if a.list_settings else pipeline.run(a)


def _list_settings(a: argparse.Namespace) -> int:
    """`--list-settings`: the config `run` would use (profile, flags, --set), every key with its doc."""
    from mnistlab import pipeline
    from mnistlab.settings import describe

    cfg = pipeline.resolve(a)
    given = " with the --set values given" if a.set else ""
    print(textwrap.fill(f"Settings of profile {cfg.profile}{given}. Change one with --set KEY=VALUE; a list takes "
                        "comma-separated values (--set mtl.lambdas=0,0.5,1; an empty value is an empty list).", 110))
    group = ""
    for row in describe(cfg):
        if row.key.split(".")[0] != group and "." in row.key:
            group = row.key.split(".")[0]
            print(f"\n[{group}]")
        rule = f"  ({row.rule})" if row.rule else ""
        print(f"{row.key}: {row.kind} = {row.value or '(empty)'}{rule}")
        print(textwrap.fill(row.doc, width=110, initial_indent="    ", subsequent_indent="    "))
    return 0


def _cmd_data(a: argparse.Namespace) -> int:
    from mnistlab.data import verify_all

    rows = verify_all(a.data_dir)
    for name, status, detail in rows:
        print(f"{status:4} {name}: {detail}")
    bad = [r for r in rows if r[1] != "OK"]
    if bad:
        raise UserError(f"{len(bad)} of {len(rows)} data files failed verification (first: {bad[0][2]})")
    return 0


def _cmd_deliverable(a: argparse.Namespace) -> int:
    from mnistlab import pipeline
    from mnistlab.deliverables import group

    run_dir = Path(a.run)
    if (run_dir / "config.json").is_file():
        group.save(run_dir, a.group, a.member)
        pipeline.say_placeholders(run_dir)
    return pipeline.deliverable(a.command, run_dir, getattr(a, "name", None))


def _cmd_bench(a: argparse.Namespace) -> int:
    from mnistlab import bench

    return bench.main(a.args)


def _cmd_tune(a: argparse.Namespace) -> int:
    from mnistlab import pipeline

    return _list_settings(a) if a.list_settings else pipeline.tune(a)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run, "data": _cmd_data, "report": _cmd_deliverable, "notebook": _cmd_deliverable,
    "bundle": _cmd_deliverable, "bench": _cmd_bench, "tune": _cmd_tune,
}


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, docker stop, a batch system's time limit) stops as cleanly as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    if argv is None and (env := process.startup_env(os.environ)) is not None:
        # settings a process must start with (mnistlab.process): run again, once, with them; same arguments
        os.execve(sys.executable, [sys.executable, "-m", "mnistlab.cli", *sys.argv[1:]], env)
    os.environ.setdefault("MPLBACKEND", "Agg")
    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        signal.signal(signal.SIGTERM, _terminated)
    try:
        argv = sys.argv[1:] if argv is None else argv
        if argv[:1] == ["bench"]:  # bench parses its own flags; argparse's REMAINDER rejects a leading --flag
            return _cmd_bench(argparse.Namespace(args=argv[1:]))
        args = parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"mnistlab: error: {err}", file=sys.stderr)
        return EXIT_USER
    except ModuleNotFoundError as err:  # a third-party package the environment lacks: name it and the fix
        if (err.name or "").startswith("mnistlab"):
            raise
        print(f"mnistlab: error: the Python package {err.name!r} is not installed; install the pinned "
              "requirements (make install, or pip install -r requirements.txt)", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("mnistlab: interrupted; finished work is saved, re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        return 1
    except OSError as err:  # full disk, vanished folder: the system's words, one line
        where = f": {err.filename}" if err.filename else ""
        fix = {errno.ENOSPC: "; free some space", errno.EDQUOT: "; free some space",
               errno.EFBIG: "; raise the file-size limit (ulimit -f)"}.get(err.errno or 0, "")
        fix += ", then re-run the same command to resume" if fix else ""
        print(f"mnistlab: error: {err.strerror or err}{where}{fix}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
