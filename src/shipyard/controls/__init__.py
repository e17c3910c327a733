"""Gateway controls: API keys and roles, limits, spend and budgets, caching, routing and deployments.

`shipyard.auth.authorize` calls into `controls.keys` for every route; the gateway stages live in
`controls.stages`; `controls.bus` keeps every replica's in-memory copies in step with the database.
"""
