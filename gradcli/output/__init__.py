"""Presentation tools every command shares, knowing nothing of the pipeline.

Takes: numbers, arrays, text.
Gives: numbers as text (numbers.py: the one rule for digits, -0, summaries), rich consoles
and the one table style (console.py), strict JSON encoding (jsondata.py).
Reads: the base modules only. Never imports gradcli.lang, engine, api, check, explain or cli.
"""
