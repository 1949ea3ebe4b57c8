# The checks CI runs (.ci/run: a fresh virtualenv, the README's install, then these), for a
# checkout whose virtualenv already has `pip install -e '.[test]'`.
#   make check      everything CI runs: the full tests, then lint and types
#   make test-fast  the tests without the slow ones (a minute or so), stopping at the first failure
#   make fuzz       the long hostile-input run (GRADCLI_FUZZ=1)
#   make bench      the benchmark suite, quick profile
#   make docs       regenerate the README's tables from the primitive table
.PHONY: check test lint types test-fast fuzz bench docs

check: test lint types

test:
	pytest

lint:
	ruff check gradcli tests benchmarks
	ruff format --check gradcli tests benchmarks

types:
	mypy

test-fast:
	pytest -x -q -m "not slow and not fuzz"

fuzz:
	GRADCLI_FUZZ=1 pytest tests/test_fuzz.py tests/test_corpus.py

bench:
	python benchmarks/run.py --quick

docs:
	python -m gradcli.cli.docs
