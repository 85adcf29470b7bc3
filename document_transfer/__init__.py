"""document_transfer: portal documents to Blob Storage (its flows arrive with their issue)."""

import azure.functions as func

bp = func.Blueprint()
