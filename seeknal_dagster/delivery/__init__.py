"""Delivering a node's data outside the project: files, PostgreSQL tables, HTTP endpoints, data contracts.

Exposure nodes use these writers; each one either delivers completely or fails with a message that names what
went wrong without ever containing a secret read from the environment.
"""
