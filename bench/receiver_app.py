"""The app with the webhook receiver only: nothing consumes ``portal-events`` (processor paused)."""

import azure.functions as func

from webhook_receiver import bp as webhook_receiver

app = func.FunctionApp()
app.register_functions(webhook_receiver)
