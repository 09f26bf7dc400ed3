"""The analyst web workspace: server-rendered pages over the same services as the API.

Every page handler parses the form or query, calls one service, renders a Jinja2
template (autoescaped). Sign-in, sessions, CSRF and the login back-off live in
``auth.py``/``security.py``; ``routing.WebRoute`` wraps every page in one
transaction, checks CSRF on every unsafe request and adds the security headers.
"""
