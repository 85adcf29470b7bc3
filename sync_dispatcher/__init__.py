"""sync_dispatcher: ATS commands to the portal's REST API (its flows arrive with their issue)."""

import azure.functions as func

bp = func.Blueprint()
