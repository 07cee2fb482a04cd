"""The error the command line reports in one line (`nasbench.cli.main`). A module of its own so
that the sub-commands (`nasbench.bench.cli`, `nasbench.evaluate.latency_cli`) can raise it
without importing the command line that imports them."""


class CLIError(Exception):
    """A problem to report in one line."""
