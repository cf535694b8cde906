"""Running Seeknal projects in production: source data versions, the change sensor, schedules, automation,
changed-only runs and plans."""
