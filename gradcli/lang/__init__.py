"""Stage 1, the language: text -> AST.

Takes: program text (and the rule texts of the primitive table).
Gives: `Program` (statements of immutable AST nodes, each with its source span), and text
back from an AST (`printer`, `simplify`).
Reads: the base modules (errors, limits, primitives, spans). Never imports a later stage
(engine, api, output, check, explain, cli).

Reading order: gradcli.lark (the grammar), ast.py, parser.py (parser_cache.py keeps the
LALR tables between runs), printer.py, simplify.py.
"""
