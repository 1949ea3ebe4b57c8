"""Stage 3b, explaining: how a gradient comes about, step by step.

Takes: a program and a point.
Gives: the explanation model (model.py: the forward pass, the traced backward sweep, the
tangents, the chain per input), and its renderings as tables, markdown and export files
(render.py; the same content as JSON is gradcli/cli/json_output.py's).
Reads: the base modules, gradcli.lang, engine, api and output. Never imports gradcli.check or cli.
"""
