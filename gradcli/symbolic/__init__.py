"""Stage 3, symbolic: the derivative as a formula (source-to-source differentiation).

Takes: the graph of a program (gradcli.engine.graph) and the primitive table's rules (their
textbook forms), with the shapes of the values when the inputs are known.
Gives: the derivative as a program in gradcli's own language (AST statements that print,
parse back and evaluate: derive.py), simplified the way a person would (algebra.py), and as
LaTeX (latex.py).
Reads: the base modules, gradcli.lang and gradcli.engine.graph. Never imports gradcli.api,
output, check, explain or cli.
"""
