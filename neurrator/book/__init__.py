"""Running the book: the CLI, the papermill runner, environment report, reproducibility, install, plots."""
