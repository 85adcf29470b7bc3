"""The integration core: everything the function folders call.

Nothing here imports ``azure.functions``, ``devhost`` or ``portal_simulator``: the core runs the
same under Core Tools, under devhost and in tests.
"""
