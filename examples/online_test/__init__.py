"""An online test of two job-matching rankers, end to end on the bundled sample warehouse."""
