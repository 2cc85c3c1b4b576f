"""The driver (the original's ``doglobalhs``): parameters, steps, templates, plan, ledger and runner.

- :mod:`~globalhs.pipeline.params`: the parameter table (validation, ``--help`` and docs come from it);
- :mod:`~globalhs.pipeline.steps`: the step table (order, template desc, module, how a step is cut);
- :mod:`~globalhs.pipeline.templates`: ``parmtemplates/{desc}.parms.{label}`` lookup and rendering;
- :mod:`~globalhs.pipeline.plan`: the jobs of every step, with the original's file names;
- :mod:`~globalhs.pipeline.workdir`: the work-directory layout, atomic writes and the driver lock;
- :mod:`~globalhs.pipeline.ledger`: the durable job ledger (SQLite in the work directory);
- :mod:`~globalhs.pipeline.runner`: throttle, submit, wait, verify, resubmit, commit.
"""
