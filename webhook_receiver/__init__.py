"""webhook_receiver: the portal's signed webhooks onto the portal-events queue."""

import azure.functions as func

bp = func.Blueprint()
