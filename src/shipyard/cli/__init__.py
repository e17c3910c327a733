"""The `shipyard` command line. Capabilities add a command group by adding a module here that defines
`cli = typer.Typer(name=...)`; `main.py` discovers it."""
