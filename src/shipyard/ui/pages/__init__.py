"""Dashboard pages, one module per capability; discovered by `shipyard.ui.frame`."""
