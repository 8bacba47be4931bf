"""``python -m hhfan``: the command-line interface (:mod:`hhfan.cli`)."""

from hhfan.cli import main

if __name__ == "__main__":
    main()
