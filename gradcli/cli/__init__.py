"""Stage 4, the command line: the Typer app and its commands.

Takes: the words of the command line, stdin, files.
Gives: human output (human.py), JSON (json_output.py), exit codes, messages.
Reads: everything before it. Nothing in gradcli imports it (but `python -m gradcli`).

Reading order: main.py (the entry point), app.py (the app, the shared command class,
messages, exit codes), options.py, then one module per command: grad.py (eval, grad),
explain.py, check.py, functions.py; docs.py generates the README's function tables.
"""
