"""Opt-in differential runs against Cloudflare's own local Workflows engine.

Nothing here runs in the normal test suite; it needs Node and wrangler, which ``--setup``
installs from the npm registry into ``~/.cache/cfwf-emulator/differential`` (or
``$CFWF_DIFFERENTIAL_CACHE``)::

    python -m conformance.differential --setup
    python -m conformance.differential --run 200 --seed 1 [--jobs 4] [--out results.json]
    python -m conformance.differential --scenarios

``--run`` generates N small programs in the shared conformance format (see
``conformance.programs``: ``do`` steps with explicit configs and failing / non-retryable /
hanging attempts, ``sleep``, ``wait`` for events, ``catch`` flags; plus a schedule of events
and pause/resume/terminate/restart actions), runs each on ``wrangler dev`` through our own
JavaScript interpreter Worker (``worker.js``) and on the emulator
(``conformance.programs.run_on_emulator``), normalises the documented LOCAL-vs-production
differences and prints a field-by-field comparison.

The local engine works in real time, so durations are kept to 0-1500 ms (``generate.py``).

``--scenarios`` runs fixed scenarios the programs cannot express (``scenarios``): a cron firing
through the Worker's ``scheduled()`` handler (``/cdn-cgi/handler/scheduled``), ``deleteBatch``
results and refusals, and ``terminate({rollback: true})``. A Workflow's own ``schedules`` cannot
be compared: ``wrangler dev`` does not fire them.

Modules: ``install`` (the toolchain), ``server`` (``wrangler dev`` process and HTTP client),
``generate`` (seeded programs), ``normalise`` (observations and comparison), ``runner``,
``scenarios``.
"""
