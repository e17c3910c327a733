"""The built-in scanners. Third-party scanners register in the `shipyard.scanners` entry-point group."""
