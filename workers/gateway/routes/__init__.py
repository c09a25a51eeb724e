"""The gateway's routes, one router per kind of caller."""
