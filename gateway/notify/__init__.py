"""Notifications: email (SMTP) and/or a JSON webhook when a hold needs attention.

``events`` decides what is due (pure); ``mail`` and ``webhook`` deliver;
``service`` is the loop that queues each event once and retries failures.
See docs/operations.md, "Notifications".
"""
