"""An app whose timer schedule is a required setting, like the replay timer of sync_dispatcher."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(arg_name="timer", schedule="%SYNC_REPLAY_SCHEDULE%")
async def replay(timer: func.TimerRequest) -> None:
    return None
