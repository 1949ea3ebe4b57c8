"""Stage 2, the engine: AST -> graph -> values and gradients.

Takes: a `Program` (gradcli.lang) and input values.
Gives: the graph (a flat, topologically ordered op list), every op's value, and gradients
by reverse mode (backpropagation) and forward mode (dual numbers), both driven by the one
table of primitives through its compiled rules.
Reads: the base modules and gradcli.lang. Never imports gradcli.api, output, check,
explain or cli.

Reading order: graph.py (AST -> ops), rules.py (the table's derivative rules as numpy
closures), values.py (one op applied, the forward values), reverse.py (the backward sweep
and its one step), forward.py (tangents), blocked.py (big arrays, block by block).
"""
