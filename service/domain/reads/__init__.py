"""What the API and the pages read: decisions, subjects, policies, the log's checkpoints
and entries, and the transparency numbers' entries, as plain data for either surface to
render.

Every function takes an open connection (or the values it needs) and returns data; none
checks a request or decides a status. Both surfaces read through here, so a page cannot
say something its JSON twin does not.
"""
