"""The Azure Functions app (Python v2 model): one Blueprint per function folder, nothing else.

Runs unchanged under Core Tools (``func start``) and under ``python -m devhost``.
"""

import azure.functions as func

from document_transfer import bp as document_transfer
from event_processor import bp as event_processor
from health_probe import bp as health_probe
from shared.telemetry import configure_telemetry
from sync_dispatcher import bp as sync_dispatcher
from webhook_receiver import bp as webhook_receiver

configure_telemetry()

app = func.FunctionApp()
for blueprint in (webhook_receiver, event_processor, sync_dispatcher, document_transfer, health_probe):
    app.register_functions(blueprint)
