"""`python -m gradcli` is the same as the `gradcli` command."""

from gradcli.cli.main import main

if __name__ == "__main__":
    main()
