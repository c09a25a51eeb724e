"""The pure decision core: policy, planner, task lifecycle, completion and projection (no I/O)."""
