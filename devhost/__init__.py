"""devhost: run ``function_app.py`` locally without Core Tools, .NET, Docker or Azure.

It discovers every function and binding from the FunctionApp object, serves HTTP triggers,
runs timer triggers, and feeds Service Bus triggers from the PostgreSQL queues of
:mod:`shared.messaging` with the Service Bus semantics the flows rely on. See docs/devhost.md.
The app itself never imports devhost: it runs unchanged under ``func start``.
"""
