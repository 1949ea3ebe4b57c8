"""Stage 3a, checking: the gradient by every route, and a verdict.

Takes: a program, a point, and what to compare (manual formulas, expected numbers, spec files).
Gives: per input and element, reverse, forward, finite differences, manual and expected
values, the verdict and the reasons (verdict.py); the one tolerance rule for exact routes
(tolerance.py, also `grad --mode both`: both.py); spec files (spec.py); tables, GitHub
annotations and JUnit (report.py).
Reads: the base modules, gradcli.lang, engine, api, bindings and output. Never imports
gradcli.explain or cli.
"""
