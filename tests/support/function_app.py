"""The project's function app, built afresh for each use.

devhost (like the worker) may call ``get_functions()`` only once per ``FunctionApp``, and
``function_app.app`` is one object per process; tests build their own from the same blueprints.
"""

from __future__ import annotations

import azure.functions as func


def fresh_app() -> func.FunctionApp:
    """A new FunctionApp registering every blueprint, as ``function_app.py`` does."""
    from document_transfer import bp as document_transfer
    from event_processor import bp as event_processor
    from health_probe import bp as health_probe
    from sync_dispatcher import bp as sync_dispatcher
    from webhook_receiver import bp as webhook_receiver

    app = func.FunctionApp()
    for blueprint in (webhook_receiver, event_processor, sync_dispatcher, document_transfer, health_probe):
        app.register_functions(blueprint)
    return app
