"""event_processor: portal events from the queue into the ATS database."""

import azure.functions as func

bp = func.Blueprint()
