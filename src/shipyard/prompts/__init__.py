"""The prompt registry: named prompts with immutable versions, movable labels, sandboxed rendering."""
