"""The app with sync_dispatcher only: its ``ats-outbound`` trigger and its replay timer."""

import azure.functions as func

from sync_dispatcher import bp as sync_dispatcher

app = func.FunctionApp()
app.register_functions(sync_dispatcher)
