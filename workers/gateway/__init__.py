"""The gateway: the HTTP edge for police systems, partner agencies and supervisors."""
