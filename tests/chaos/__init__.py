"""`make chaos`: the whole stack under load while things break, one scenario at a time.

Each scenario starts `elizabus up` in a fresh data dir as a user does (plus, where it needs them,
extra service processes against the stack's URLs), publishes at least 150 messages over 10 DM
rooms while a fault is injected, waits until everything settled, counts in the streams what was
answered, answered twice, dead-lettered or lost, rebuilds the projections from the log and
compares them row for row with the live ones, and prints one table row. `python -m tests.chaos
--help` lists the scenarios; docs/chaos.md has the last full table.
"""
