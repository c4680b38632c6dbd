"""Stacks compose constructs, wire grants and outputs, and apply cdk-nag; nothing else."""
