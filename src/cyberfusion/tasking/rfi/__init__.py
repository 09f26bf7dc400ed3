"""Requests for information: filed, triaged, assigned, answered and released under their own handling."""
