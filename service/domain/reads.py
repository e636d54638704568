"""What the API and the pages read: decisions, subjects, policies, appeals and the log,
as plain data for either surface to render."""
