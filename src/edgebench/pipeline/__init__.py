"""The run pipeline: a plan of typed jobs (plan.py, jobs.py), run by handlers (handlers.py) in
child processes (runner.py), recorded in the run folder (store.py). `Run` ties them together."""

from edgebench.pipeline.run import EventSink, Run
from edgebench.pipeline.store import default_run_dir

__all__ = ["EventSink", "Run", "default_run_dir"]
