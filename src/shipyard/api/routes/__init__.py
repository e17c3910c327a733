"""One module per capability's HTTP surface; `shipyard.api.app` discovers them."""
