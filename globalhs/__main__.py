"""``python -m globalhs`` is the ``globalhs`` command (what job scripts call, with the driver's Python)."""

from globalhs.cli import main

if __name__ == "__main__":
    main()
