"""``globalhs run``, ``status``, ``labels`` and ``cancel``: the driver's commands (parsing and printing only)."""

from __future__ import annotations

import os
import signal
import sys

import click

from globalhs.executors import EXECUTORS, executor_class
from globalhs.executors.base import BatchError
from globalhs.pipeline.params import ParamError, RunParams, help_table, parse_params
from globalhs.pipeline.templates import TemplateError

_EXTRA = {"ignore_unknown_options": True, "allow_extra_args": False}


class _ParamsHelp(click.Command):
    """A command whose help ends with the parameter table (generated from the table itself)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write("\nParameters (name=value, no spaces; value from the argument, else the "
                        "environment variable, else the default):\n")
        formatter.write(help_table() + "\n")


def _params(args: tuple[str, ...], command: str) -> RunParams:
    try:
        return parse_params(args)
    except ParamError as exc:
        click.echo(f"globalhs {command}: {len(exc.problems)} problem(s) with the parameters, "
                   f"nothing started:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        click.echo(f"see `globalhs {command} --help` for the parameter table", err=True)
        sys.exit(2)


def _plan(p: RunParams):
    from globalhs.pipeline.plan import make_plan

    try:
        return make_plan(p)
    except TemplateError as exc:
        click.echo(f"globalhs run: {exc}", err=True)
        sys.exit(2)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@click.command(cls=_ParamsHelp, context_settings=_EXTRA)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--dry-run", is_flag=True, help="Print the plan (steps, jobs, files, queues) and stop.")
@click.option("--executor", "executor_name", type=click.Choice(list(EXECUTORS)), default="local",
              show_default=True, envvar="GLOBALHS_EXECUTOR", help="Where jobs run (env GLOBALHS_EXECUTOR).")
@click.option("--force", is_flag=True, help="Redo chunks the ledger records as verified.")
@click.option("--retries", type=click.IntRange(0), default=1, show_default=True,
              help="Resubmissions of a failed job before the run stops (the original: 1).")
@click.option("--quiet", "-q", is_flag=True, help="Log lines only, no live table.")
def run(args, dry_run, executor_name, force, retries, quiet):
    """Run the pipeline (doglobalhs): starttime=... totaltime=... label=... [name=value ...]"""
    from globalhs.pipeline.ledger import Ledger
    from globalhs.pipeline.plan import check_arguments, describe
    from globalhs.pipeline.progress import make_reporter
    from globalhs.pipeline.runner import Runner
    from globalhs.pipeline.workdir import DriverLock, LockError

    p = _params(args, "run")
    plan = _plan(p)
    problems = check_arguments(plan)
    if dry_run:
        click.echo(describe(plan))
        for problem in problems:
            click.echo(f"warning: {problem}")
        return
    if problems:
        click.echo(f"globalhs run: {len(problems)} problem(s) with the steps' module arguments, nothing "
                   f"started:", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    from globalhs.executors.site import SiteConfig, SiteConfigError

    try:
        SiteConfig.load()                 # the [batch] tables: a bad value stops the run before it starts
    except SiteConfigError as exc:
        click.echo(f"globalhs run: {exc}", err=True)
        sys.exit(2)
    try:
        executor = executor_class(executor_name)()
    except (ImportError, AttributeError, BatchError, ValueError, OSError) as exc:
        click.echo(f"globalhs run: executor {executor_name!r} is not available here ({exc})", err=True)
        sys.exit(2)
    lock = DriverLock(plan.workdir)
    try:
        lock.acquire()
    except LockError as exc:
        click.echo(f"globalhs run: {exc}", err=True)
        sys.exit(1)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with Ledger(plan.workdir) as ledger:
            reporter = make_reporter(plan.workdir / "globalhs.log", quiet)
            runner = Runner(plan, executor, ledger, reporter, retries=retries, force=force)
            try:
                code = runner.run()
            except BatchError as exc:
                click.echo(f"globalhs run: batch system error: {exc}\nJobs already submitted keep "
                           f"running; rerun the same command to adopt them and go on.", err=True)
                code = 1
            except KeyboardInterrupt:
                first = runner.current_step or p["firststep"]
                click.echo(f"globalhs run: interrupted; the run's jobs were cancelled. Resume with: "
                           f"{plan.resume_command(first)}", err=True)
                sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
        executor.close()
        lock.release()
    sys.exit(code)


@click.command(cls=_ParamsHelp, context_settings=_EXTRA)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def status(args):
    """Each step's state from the run's ledger: starttime=... totaltime=... label=... [lmin= lmax= topdir=]"""
    from collections import Counter

    from globalhs.pipeline.ledger import Ledger
    from globalhs.pipeline.steps import STEP_NAMES
    from globalhs.pipeline.workdir import DriverLock, run_dir

    p = _params(args, "status")
    workdir = run_dir(p["topdir"], p["label"], p["starttime"], p["totaltime"], p["lmin"], p["lmax"])
    ledger = Ledger.open_existing(workdir)
    if ledger is None:
        click.echo(f"no run recorded in {workdir}", err=True)
        sys.exit(1)
    lock = DriverLock(workdir)
    holder = lock.holder() if lock.held() else {}
    with ledger:
        steps = ledger.step_states()
        rows = ledger.rows()
    click.echo(f"work directory {workdir}")
    if holder:
        click.echo(f"driver running: pid {holder['pid']} on {holder.get('host')}")
    click.echo(f"{'step':<9} {'state':<9} {'jobs':>5} {'done':>5} {'running':>8} {'failed':>7} {'cancelled':>9}")
    for name in STEP_NAMES:
        if name not in steps:
            continue
        state, njobs, _ = steps[name]
        c = Counter(r.state for r in rows if r.step == name)
        click.echo(f"{name:<9} {state:<9} {njobs:>5} {c['done']:>5} {c['submitted']:>8} "
                   f"{c['failed']:>7} {c['cancelled']:>9}")
        for r in rows:
            if r.step == name and r.state == "failed":
                click.echo(f"  {r.name} attempt {r.attempt}: {r.reason}")


@click.command()
def labels():
    """The labels found in the template directories and the steps each runs."""
    from globalhs.pipeline.templates import labels as find_labels
    from globalhs.pipeline.templates import steps_of_label, template_dirs

    found = find_labels()
    click.echo("template directories: " + ", ".join(str(d) for d in template_dirs()))
    if not found:
        click.echo("no labels found")
        return
    for label, descs in found.items():
        click.echo(f"{label}: steps {', '.join(steps_of_label(label))} (templates {', '.join(descs)})")


@click.command(cls=_ParamsHelp, context_settings=_EXTRA)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cancel(args):
    """Stop a run: its driver cancels its jobs; with no driver, cancel the jobs the ledger lists."""
    from globalhs.pipeline.ledger import Ledger
    from globalhs.pipeline.workdir import DriverLock, run_dir

    p = _params(args, "cancel")
    workdir = run_dir(p["topdir"], p["label"], p["starttime"], p["totaltime"], p["lmin"], p["lmax"])
    lock = DriverLock(workdir)
    holder = lock.holder() if lock.held() else {}
    if holder and holder.get("host") != os.uname().nodename:
        click.echo(f"the driver of this run is on {holder.get('host')} (pid {holder.get('pid')}): "
                   f"run `globalhs cancel` there", err=True)
        sys.exit(1)
    if holder:
        os.kill(int(holder["pid"]), signal.SIGTERM)
        click.echo(f"asked the driver (pid {holder['pid']}) to cancel its jobs and stop")
        return
    ledger = Ledger.open_existing(workdir)
    if ledger is None:
        click.echo(f"no run recorded in {workdir}", err=True)
        sys.exit(1)
    with ledger:
        active = [r for r in ledger.rows() if r.state == "submitted" and r.job_id]
        by_executor: dict[str, list] = {}
        for r in active:
            by_executor.setdefault(r.executor, []).append(r)
        for name, rows in by_executor.items():
            executor = executor_class(name)()
            executor.cancel([r.job_id for r in rows])
            executor.close()
            ledger.cancel_all((r.step, r.chunk) for r in rows)
    click.echo(f"cancelled {len(active)} job(s)")
