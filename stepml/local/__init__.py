"""The local executor: a plan run on this machine, steps as in-process work or local processes.

runner    the scheduling loop: cache hits, locks, independent steps in parallel, the run record
attempt   one attempt at one step: orphans cleared, files in a fresh attempt folder, the manifest last
context   what a step type's local facet is given (``LocalContext``) and returns (``StepResult``)
process   child processes: the step's entry (``python -m stepml.entry``) or its own command, logs, errors
"""
