"""The app with the event processor only: its ``portal-events`` trigger drains the backlog."""

import azure.functions as func

from event_processor import bp as event_processor

app = func.FunctionApp()
app.register_functions(event_processor)
