"""The dashboard: server-rendered HTML with inline SVG charts; no build step, no JavaScript framework.

Capabilities add pages by adding a module to `shipyard.ui.pages` (see `frame.py`).
"""
